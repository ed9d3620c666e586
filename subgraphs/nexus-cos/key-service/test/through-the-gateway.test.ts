import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSubgraph, Role, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';

const ENCRYPT = 'mutation ($input: EncryptSecretInput!) { encryptSecret(input: $input) { ciphertext keyVersion } }';
const TENANT_KEY = '{ tenantKey { currentVersion nextRotationAt versions { id version state wrappedSecrets } } }';
const AUDIT = '{ keyAuditEvents(first: 10) { edges { node { action outcome actorKind keyVersion purpose } } pageInfo { hasNextPage } } }';
const ROTATE = 'mutation { rotateTenantKey { currentVersion } }';
const DESTROY = `mutation ($version: Int!) { destroyTenantKeyVersion(version: $version) {
  __typename ... on KeyVersionInUse { wrappedSecrets } ... on KeyVersionNotFound { version } } }`;

type User = Extract<Identity, { kind: 'user' }>;
const person = (tenantId: string, roles: Role[]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

describe.each(storageModes(['postgres', 'redis', 'amqp']))(
  'key-service through the nexus-cos gateway (backend-api) on $storage',
  ({ mode }) => {
    let graph: GraphUnderTest;

    beforeAll(async () => {
      graph = await startGraphUnderTest('nexus-cos', ['key-service'], {
        mode,
        label: `key_service_gateway_${mode}`,
        settings: { 'key-service': { KEY_MAINTENANCE_INTERVAL_MS: '0' } },
      });
    });

    afterAll(async () => {
      await graph?.close();
    });

    const send = async <T = Record<string, any>>(who: User, query: string, variables?: Record<string, unknown>) =>
      postGraphQL<T>(graph.gateway.graphqlUrl, query, { token: await graph.tokenFor(who), variables });
    /** What a COS service does with a secret of the tenant: calls key-service directly, not through the gateway. */
    const encryptInternally = (who: User, plaintext: string, purpose: string) => {
      const keyService = graph.subgraphs['key-service'] as RunningSubgraph<unknown>;
      return callSubgraph<{ encryptSecret: { ciphertext: string; keyVersion: number } }, unknown>({
        url: keyService.graphqlUrl,
        query: ENCRYPT,
        variables: { input: { plaintext, purpose } },
        identity: who,
        internalSecret: keyService.config.internalSecret,
      });
    };

    it("shows an OWNER the tenant key's versions and audit trail, and lets an ADMIN rotate and destroy versions", async () => {
      const tenantId = randomUUID();
      const [owner, admin] = [person(tenantId, [Role.Owner]), person(tenantId, [Role.Admin])];
      expect((await send(owner, TENANT_KEY)).data).toEqual({ tenantKey: null });
      await encryptInternally(person(tenantId, [Role.Member]), 'gateway secret', 'smtp-password');

      const key = (await send(owner, TENANT_KEY)).data?.tenantKey;
      expect(key).toMatchObject({ currentVersion: 1, versions: [{ version: 1, state: 'ACTIVE', wrappedSecrets: 1 }] });
      expect((await send(admin, ROTATE)).data).toEqual({ rotateTenantKey: { currentVersion: 2 } });
      expect((await send(admin, DESTROY, { version: 1 })).data).toEqual({
        destroyTenantKeyVersion: { __typename: 'KeyVersionInUse', wrappedSecrets: 1 },
      });
      expect((await send(admin, DESTROY, { version: 5 })).data).toEqual({
        destroyTenantKeyVersion: { __typename: 'KeyVersionNotFound', version: 5 },
      });
      const audit = (await send<{ keyAuditEvents: { edges: { node: { action: string; outcome: string } }[] } }>(owner, AUDIT)).data!
        .keyAuditEvents;
      expect(audit.edges.map(({ node }) => `${node.action} ${node.outcome}`)).toEqual([
        'DESTROY REFUSED',
        'ROTATE SUCCEEDED',
        'ENCRYPT SUCCEEDED',
      ]);
      expect(JSON.stringify(audit)).not.toContain('gateway secret');
    });

    it('refuses MEMBERs and VIEWERs key metadata, audit and rotation, and anonymous callers everything', async () => {
      const tenantId = randomUUID();
      for (const roles of [[Role.Member], [Role.Viewer]]) {
        for (const query of [TENANT_KEY, AUDIT, ROTATE]) {
          expect((await send(person(tenantId, roles), query)).errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
        }
      }
      const anonymous = await postGraphQL(graph.gateway.graphqlUrl, ROTATE);
      expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    });

    it('does not expose encryptSecret through the gateway: only services reach it, with a signed identity', async () => {
      const refused = await send(person(randomUUID(), [Role.Owner]), ENCRYPT, { input: { plaintext: 'x', purpose: 'p' } });
      expect(refused.data).toBeUndefined();
      expect(new Set(refused.errors?.map((error) => error.extensions?.code))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
    });
  },
);
