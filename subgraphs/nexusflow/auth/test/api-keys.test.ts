import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKeySecret, Role, signIdentity, systemFork, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, testEnvironment } from '@nexusflow/kit/testing';
import type { AuthServices } from '../src/context.ts';
import { subgraph as auth } from '../src/subgraph.ts';

const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { __typename ... on AuthSession { user { id tenant { id } } } }
}`;
const KEY_FIELDS = 'id name scopes prefix createdBy { id } createdAt expiresAt lastUsedAt revokedAt';
const CREATE = `mutation ($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    __typename
    ... on CreatedApiKey { secret apiKey { ${KEY_FIELDS} } }
    ... on InvalidInput { fields { field problem } }
  }
}`;
const REVOKE = `mutation ($id: ID!) {
  revokeApiKey(id: $id) { __typename ... on ApiKey { id revokedAt } ... on ApiKeyNotFound { id message } }
}`;
const LIST = `{ apiKeys { ${KEY_FIELDS} } }`;
const AUTHENTICATE = `mutation ($secretHash: String!) { authenticateApiKey(secretHash: $secretHash) { id tenantId roles expiresAt } }`;

type Owner = Extract<Identity, { kind: 'user' }>;

/** API keys in the auth subgraph itself, asked as the gateway would with signed identities, on a clock the test moves. */
describe('API keys in the auth subgraph', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let subgraph: RunningSubgraph<AuthServices>;
    const clock = { now: Date.now() };
    const cleanups: (() => Promise<void>)[] = [];
    let owner: Owner;
    let stranger: Owner;

    beforeAll(async () => {
      const dataDir = await createTempDirectory(`auth-api-keys-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent' };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'auth_api_keys');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      subgraph = await auth.start(env, { clock: () => clock.now });
      cleanups.push(() => subgraph.close());
      [owner, stranger] = await Promise.all([register('owner'), register('stranger')]);
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    async function ask(identity: Identity, query: string, variables: Record<string, unknown> = {}) {
      return postGraphQL<Record<string, any>>(subgraph.graphqlUrl, query, {
        variables,
        headers: signIdentity(identity, subgraph.config.internalSecret, clock.now),
      });
    }

    async function register(label: string): Promise<Owner> {
      const input = {
        email: `${label}-${crypto.randomUUID()}@example.com`,
        password: 'correct horse battery',
        name: label,
        tenantName: label,
      };
      const session = (await ask({ kind: 'anonymous' }, REGISTER, { input })).data?.register;
      return { kind: 'user', userId: session.user.id, tenantId: session.user.tenant.id, roles: [Role.Owner] };
    }

    async function create(identity: Identity, input: Record<string, unknown>) {
      return (await ask(identity, CREATE, { input })).data?.createApiKey;
    }

    async function authenticate(secret: string) {
      return (await ask({ kind: 'anonymous' }, AUTHENTICATE, { secretHash: hashApiKeySecret(secret) })).data?.authenticateApiKey;
    }

    const as = (role: Role): Owner => ({ ...owner, roles: [role] });

    it('shows the secret once on creation, stores only its hash, and never lists it', async () => {
      const created = await create(owner, { name: '  CI schema checks ', scopes: ['read'] });

      expect(created).toMatchObject({
        __typename: 'CreatedApiKey',
        apiKey: {
          name: 'CI schema checks',
          scopes: ['read'],
          createdBy: { id: owner.userId },
          expiresAt: null,
          lastUsedAt: null,
          revokedAt: null,
        },
      });
      expect(created.secret).toMatch(/^nfk_[A-Za-z0-9_-]{43}$/);
      const secret = created.secret as string;
      expect(created.apiKey.prefix).toBe(secret.slice(0, 12));

      const rows = await systemFork(subgraph.database).getConnection().execute('select * from api_keys where id = ?', [created.apiKey.id]);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.secret_hash).toBe(hashApiKeySecret(secret));
      expect(JSON.stringify(rows)).not.toContain(secret);

      const listed = (await ask(owner, LIST)).data?.apiKeys;
      expect(listed).toContainEqual(created.apiKey);
      expect(JSON.stringify(listed)).not.toContain(secret);
    });

    it('lets an ADMIN manage keys and refuses VIEWERs and MEMBERs with FORBIDDEN', async () => {
      expect((await create(as(Role.Admin), { name: 'Deploys', scopes: ['write'] })).__typename).toBe('CreatedApiKey');
      const { apiKey } = await create(owner, { name: 'Kept', scopes: ['read'] });

      for (const role of [Role.Viewer, Role.Member]) {
        for (const [query, variables] of [
          [LIST, {}],
          [CREATE, { input: { name: 'Mine', scopes: ['read'] } }],
          [REVOKE, { id: apiKey.id }],
        ] as const) {
          const response = await ask(as(role), query, variables);
          expect(
            response.errors?.map((error) => error.extensions?.code),
            `${role} ${query}`,
          ).toEqual(['FORBIDDEN']);
        }
      }
      expect((await ask(owner, LIST)).data?.apiKeys).toContainEqual(expect.objectContaining({ id: apiKey.id, revokedAt: null }));
    });

    it('answers bad input with the fields at fault and creates nothing', async () => {
      const before = (await ask(owner, LIST)).data?.apiKeys.length;
      const invalid = await create(owner, {
        name: ' ',
        scopes: ['read', 'admin'],
        expiresAt: new Date(clock.now - 1000).toISOString(),
      });

      expect(invalid).toEqual({
        __typename: 'InvalidInput',
        fields: [
          { field: 'name', problem: 'must not be empty' },
          { field: 'scopes.1', problem: 'must be read or write' },
          { field: 'expiresAt', problem: 'must be in the future' },
        ],
      });
      expect((await create(owner, { name: 'No scopes', scopes: [] })).fields).toEqual([
        { field: 'scopes', problem: 'must name at least one scope' },
      ]);
      expect((await ask(owner, LIST)).data?.apiKeys).toHaveLength(before);
    });

    it('resolves a live key to its tenant and the roles of its scopes, and marks it used at most once a minute', async () => {
      const { secret, apiKey } = await create(owner, { name: 'Both', scopes: ['write', 'read', 'write'] });
      expect(apiKey.scopes).toEqual(['read', 'write']);

      expect(await authenticate(secret)).toEqual({
        id: apiKey.id,
        tenantId: owner.tenantId,
        roles: [Role.Viewer, Role.Member],
        expiresAt: null,
      });
      const firstUse = new Date(clock.now).toISOString();
      clock.now += 30_000;
      await authenticate(secret);
      const lastUsed = async () => {
        const listed = (await ask(owner, LIST)).data?.apiKeys as { id: string; lastUsedAt: string | null }[];
        return listed.find((key) => key.id === apiKey.id)?.lastUsedAt;
      };
      expect(await lastUsed()).toBe(firstUse);
      clock.now += 30_000;
      await authenticate(secret);
      expect(await lastUsed()).toBe(new Date(clock.now).toISOString());
    });

    it('resolves no key for an unknown secret, a malformed hash, a revoked key or an expired one', async () => {
      expect(await authenticate('nfk_not-a-key-anyone-made')).toBeNull();
      expect((await ask({ kind: 'anonymous' }, AUTHENTICATE, { secretHash: 'not hex' })).data?.authenticateApiKey).toBeNull();

      const revoked = await create(owner, { name: 'Revoked', scopes: ['read'] });
      const revocation = (await ask(owner, REVOKE, { id: revoked.apiKey.id })).data?.revokeApiKey;
      expect(revocation).toEqual({ __typename: 'ApiKey', id: revoked.apiKey.id, revokedAt: new Date(clock.now).toISOString() });
      expect(await authenticate(revoked.secret)).toBeNull();
      clock.now += 1000;
      expect((await ask(owner, REVOKE, { id: revoked.apiKey.id })).data?.revokeApiKey).toEqual(revocation);

      const expiresAt = new Date(clock.now + 60_000).toISOString();
      const expiring = await create(owner, { name: 'Expiring', scopes: ['read'], expiresAt });
      expect(await authenticate(expiring.secret)).toMatchObject({ id: expiring.apiKey.id, expiresAt });
      clock.now += 60_000;
      expect(await authenticate(expiring.secret)).toBeNull();
    });

    it('shows another tenant none of the keys and lets it revoke none', async () => {
      const { secret, apiKey } = await create(owner, { name: 'Of the owner', scopes: ['read'] });

      expect((await ask(stranger, LIST)).data?.apiKeys).toEqual([]);
      expect((await ask(stranger, REVOKE, { id: apiKey.id })).data?.revokeApiKey).toEqual({
        __typename: 'ApiKeyNotFound',
        id: apiKey.id,
        message: `No API key ${apiKey.id}`,
      });
      expect((await ask(stranger, REVOKE, { id: 'not-a-uuid' })).data?.revokeApiKey.__typename).toBe('ApiKeyNotFound');
      expect(await authenticate(secret)).toMatchObject({ id: apiKey.id, tenantId: owner.tenantId });
    });
  });
});
