import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, systemFork, tenantFork, type DomainEvent, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes, type GraphQLResponse } from '@nexusflow/kit/testing';
import { TestServices } from '../../../../test/support/services.ts';
import { loadKeyServiceConfig } from '../src/config.ts';
import type { KeyServiceServices } from '../src/context.ts';
import { KeyVault } from '../src/domain/key-vault.ts';
import { MasterKeyRing } from '../src/domain/master-key.ts';
import { TenantKeyVersion } from '../src/entities/tenant-key-version.entity.ts';
import { maintainKeys } from '../src/services.ts';
import { subgraph } from '../src/subgraph.ts';

const DAY_MS = 86_400_000;
const ROTATION_DAYS = 30;
const MASTER_KEY = 'key-service-test-master-key-0123456789abcdef';
const NEXT_MASTER_KEY = 'key-service-test-next-master-key-0123456789abcdef';

const ENCRYPT = 'mutation ($input: EncryptSecretInput!) { encryptSecret(input: $input) { ciphertext keyVersion } }';
const DECRYPT = 'mutation ($input: DecryptSecretInput!) { decryptSecret(input: $input) { plaintext keyVersion needsRewrap } }';
const REWRAP = 'mutation ($input: RewrapSecretInput!) { rewrapSecret(input: $input) { ciphertext keyVersion } }';
const FORGET = 'mutation ($input: ForgetSecretInput!) { forgetSecret(input: $input) }';
const ROTATE = 'mutation { rotateTenantKey { id currentVersion } }';
const DESTROY = `mutation ($version: Int!) { destroyTenantKeyVersion(version: $version) {
  __typename ... on TenantKeyVersion { version state destroyedAt } ... on KeyVersionInUse { version wrappedSecrets message }
  ... on KeyVersionNotFound { version } } }`;
const TENANT_KEY = `{ tenantKey { id currentVersion rotatedAt nextRotationAt
  versions { id tenantKeyId version state retiredAt destroyedAt wrappedSecrets } } }`;
const AUDIT = `query ($first: Int, $after: String) { keyAuditEvents(first: $first, after: $after) {
  edges { cursor node { action outcome actorKind actorId keyVersion previousKeyVersion purpose } }
  pageInfo { hasNextPage endCursor } } }`;

type User = Extract<Identity, { kind: 'user' }>;
const person = (tenantId: string, roles = [Role.Owner]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

/** Which refusal a BAD_USER_INPUT message states (the audit trail records the same as its outcome). */
const reasonOf = (message: string | undefined) => {
  if (message?.includes('another purpose')) return 'WRONG_PURPOSE';
  if (message?.includes('altered')) return 'TAMPERED';
  if (message?.includes('has been destroyed')) return 'KEY_VERSION_DESTROYED';
  if (message?.includes('does not have')) return 'UNKNOWN_KEY_VERSION';
  return message;
};

interface Sealed {
  ciphertext: string;
  keyVersion: number;
}

describe.each(storageModes(['postgres', 'amqp']))('key-service on $storage', ({ mode }) => {
  let services: TestServices;
  let keyService: RunningSubgraph<KeyServiceServices>;
  let clock = Date.now();

  beforeAll(async () => {
    services = await TestServices.create(mode, `key_service_behaviour_${mode}`);
    keyService = await services.start(
      subgraph,
      {
        ...(await services.environmentFor('key-service')),
        KEY_SERVICE_MASTER_KEY: MASTER_KEY,
        KEY_ROTATION_INTERVAL_DAYS: String(ROTATION_DAYS),
        KEY_MAINTENANCE_INTERVAL_MS: '0',
      },
      { clock: () => clock, now: () => clock },
    );
  });

  afterAll(async () => {
    await services?.close();
  });

  /** As another service calls key-service: directly, with an identity signed with the internal secret. */
  const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}) =>
    postGraphQL<T>(keyService.graphqlUrl, query, { variables, headers: signIdentity(identity, keyService.config.internalSecret, clock) });
  const encrypt = async (identity: Identity, plaintext: string, purpose: string): Promise<Sealed> => {
    const response = await ask<{ encryptSecret: Sealed }>(identity, ENCRYPT, { input: { plaintext, purpose } });
    expect(response.errors).toBeUndefined();
    return response.data!.encryptSecret;
  };
  const decrypt = (identity: Identity, ciphertext: string, purpose: string) =>
    ask<{ decryptSecret: { plaintext: string; keyVersion: number; needsRewrap: boolean } }>(identity, DECRYPT, {
      input: { ciphertext, purpose },
    });
  const rewrap = (identity: Identity, ciphertext: string, purpose: string) =>
    ask<{ rewrapSecret: Sealed }>(identity, REWRAP, { input: { ciphertext, purpose } });
  const refusal = (response: GraphQLResponse<unknown>) => {
    expect(response.data).toBeNull();
    const [error] = response.errors ?? [];
    return { code: error?.extensions?.code, field: error?.extensions?.field, reason: reasonOf(error?.message) };
  };
  const tenantKeyOf = async (owner: User) =>
    (
      await ask<{
        tenantKey: {
          id: string;
          currentVersion: number;
          rotatedAt: string;
          nextRotationAt: string;
          versions: { id: string; version: number; state: string; wrappedSecrets: number; retiredAt: string | null }[];
        } | null;
      }>(owner, TENANT_KEY)
    ).data!.tenantKey;

  it('decrypts what it encrypted, under a fresh data key each time, with a self-describing ciphertext', async () => {
    const service = person(randomUUID(), [Role.Member]);
    const first = await encrypt(service, 'client-secret-1', 'oauth-client-secret:a');
    const second = await encrypt(service, 'client-secret-1', 'oauth-client-secret:a');
    expect(first.keyVersion).toBe(1);
    expect(first.ciphertext).toMatch(/^ks1\.[0-9a-f-]{36}\.1\.[0-9a-f-]{36}\./);
    expect(first.ciphertext).not.toContain('client-secret-1');
    expect(second.ciphertext.split('.').slice(3)).not.toEqual(first.ciphertext.split('.').slice(3));
    const decrypted = await decrypt(service, first.ciphertext, 'oauth-client-secret:a');
    expect(decrypted.data).toEqual({ decryptSecret: { plaintext: 'client-secret-1', keyVersion: 1, needsRewrap: false } });
    const unicode = await encrypt(service, 'пароль 🔑', 'p');
    expect((await decrypt(service, unicode.ciphertext, 'p')).data?.decryptSecret.plaintext).toBe('пароль 🔑');
  });

  it('refuses to decrypt under another purpose than the one the secret was encrypted for', async () => {
    const service = person(randomUUID(), [Role.Member]);
    const { ciphertext } = await encrypt(service, 'secret', 'oauth-client-secret:a');
    expect(refusal(await decrypt(service, ciphertext, 'oauth-client-secret:b'))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'purpose',
      reason: 'WRONG_PURPOSE',
    });
  });

  it('detects a ciphertext altered anywhere as TAMPERED, never as an internal error', async () => {
    const service = person(randomUUID(), [Role.Member]);
    const { ciphertext } = await encrypt(service, 'secret', 'p');
    const parts = ciphertext.split('.');
    const flip = (part: string) => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[bytes.length - 1]! ^= 1;
      return bytes.toString('base64url');
    };
    const altered = [4, 6].map((index) => parts.map((part, at) => (at === index ? flip(part) : part)).join('.'));
    const otherSecretId = [...parts.slice(0, 3), randomUUID(), ...parts.slice(4)].join('.');
    for (const tampered of [...altered, otherSecretId, ciphertext.slice(0, -4), 'not a ciphertext', `${ciphertext}.extra`]) {
      expect(refusal(await decrypt(service, tampered, 'p')), tampered).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'ciphertext',
        reason: 'TAMPERED',
      });
    }
    const unknownVersion = [...parts.slice(0, 2), '9', ...parts.slice(3)].join('.');
    expect(refusal(await decrypt(service, unknownVersion, 'p')).reason).toBe('UNKNOWN_KEY_VERSION');
  });

  it("keeps each tenant's key to itself: tenant B can neither decrypt nor re-wrap tenant A's ciphertext", async () => {
    const [serviceOfA, serviceOfB] = [person(randomUUID(), [Role.Member]), person(randomUUID(), [Role.Member])];
    const ofA = await encrypt(serviceOfA, 'tenant A secret', 'p');
    const ofB = await encrypt(serviceOfB, 'tenant B secret', 'p');
    expect(ofA.ciphertext.split('.')[1]).not.toBe(ofB.ciphertext.split('.')[1]);
    expect(refusal(await decrypt(serviceOfB, ofA.ciphertext, 'p'))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'ciphertext',
      reason: 'UNKNOWN_KEY_VERSION',
    });
    expect(refusal(await rewrap(serviceOfB, ofA.ciphertext, 'p')).reason).toBe('UNKNOWN_KEY_VERSION');
    // A's key id in a ciphertext of B's tenant key does not help either: the wrapped data key is bound to its header.
    const spliced = [ofB.ciphertext.split('.')[0], ofA.ciphertext.split('.')[1], ...ofB.ciphertext.split('.').slice(2)].join('.');
    expect(refusal(await decrypt(serviceOfA, spliced, 'p')).reason).toBe('TAMPERED');
    expect((await decrypt(serviceOfA, ofA.ciphertext, 'p')).data?.decryptSecret.plaintext).toBe('tenant A secret');
    const stranger = person(randomUUID(), [Role.Owner]);
    expect(await tenantKeyOf(stranger)).toBeNull();
  });

  it('rotates: old versions still decrypt, new secrets use the new version, and a re-wrap moves a secret to it', async () => {
    const tenantId = randomUUID();
    const [service, owner] = [person(tenantId, [Role.Member]), person(tenantId, [Role.Owner])];
    const old = await encrypt(service, 'rotating secret', 'webhook-secret:1');
    const rotated = await ask<{ rotateTenantKey: { currentVersion: number } }>(owner, ROTATE);
    expect(rotated.data?.rotateTenantKey.currentVersion).toBe(2);
    expect((await decrypt(service, old.ciphertext, 'webhook-secret:1')).data?.decryptSecret).toEqual({
      plaintext: 'rotating secret',
      keyVersion: 1,
      needsRewrap: true,
    });
    expect((await encrypt(service, 'new secret', 'webhook-secret:2')).keyVersion).toBe(2);

    const moved = (await rewrap(service, old.ciphertext, 'webhook-secret:1')).data!.rewrapSecret;
    expect(moved.keyVersion).toBe(2);
    expect(moved).not.toHaveProperty('plaintext');
    expect(moved.ciphertext.split('.')[6]).toBe(old.ciphertext.split('.')[6]);
    expect((await decrypt(service, moved.ciphertext, 'webhook-secret:1')).data?.decryptSecret).toEqual({
      plaintext: 'rotating secret',
      keyVersion: 2,
      needsRewrap: false,
    });
    expect(refusal(await rewrap(service, old.ciphertext, 'webhook-secret:other')).reason).toBe('WRONG_PURPOSE');

    const key = (await tenantKeyOf(owner))!;
    expect(key.currentVersion).toBe(2);
    expect(key.versions.map(({ version, state, wrappedSecrets }) => ({ version, state, wrappedSecrets }))).toEqual([
      { version: 2, state: 'ACTIVE', wrappedSecrets: 2 },
      { version: 1, state: 'RETIRED', wrappedSecrets: 0 },
    ]);
    expect(key.versions[1]!.retiredAt).not.toBeNull();
  });

  it('destroys a retired version only once nothing refers to it; its ciphertexts are then refused as destroyed', async () => {
    const tenantId = randomUUID();
    const [service, owner] = [person(tenantId, [Role.Member]), person(tenantId, [Role.Admin])];
    const kept = await encrypt(service, 'kept', 'kept');
    const dropped = await encrypt(service, 'dropped', 'dropped');
    const destroy = async (version: number) =>
      (await ask<{ destroyTenantKeyVersion: Record<string, unknown> }>(owner, DESTROY, { version })).data!.destroyTenantKeyVersion;
    expect(await destroy(1)).toMatchObject({ __typename: 'KeyVersionInUse', version: 1 });
    await ask(owner, ROTATE);
    expect(await destroy(1)).toMatchObject({ __typename: 'KeyVersionInUse', version: 1, wrappedSecrets: 2 });
    expect(await destroy(7)).toEqual({ __typename: 'KeyVersionNotFound', version: 7 });

    const rewrapped = (await rewrap(service, kept.ciphertext, 'kept')).data!.rewrapSecret;
    expect(refusal(await ask(service, FORGET, { input: { ciphertext: dropped.ciphertext, purpose: 'wrong' } })).reason).toBe(
      'WRONG_PURPOSE',
    );
    expect((await ask(service, FORGET, { input: { ciphertext: dropped.ciphertext, purpose: 'dropped' } })).data).toEqual({
      forgetSecret: true,
    });
    expect(await destroy(1)).toMatchObject({
      __typename: 'TenantKeyVersion',
      version: 1,
      state: 'DESTROYED',
      destroyedAt: expect.any(String),
    });
    expect(await destroy(2)).toMatchObject({ __typename: 'KeyVersionInUse', version: 2 });

    expect(refusal(await decrypt(service, kept.ciphertext, 'kept'))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'ciphertext',
      reason: 'KEY_VERSION_DESTROYED',
    });
    expect((await decrypt(service, rewrapped.ciphertext, 'kept')).data?.decryptSecret.plaintext).toBe('kept');
    const [row] = await systemFork(keyService.database).find(TenantKeyVersion, { tenantId, version: 1 });
    expect(row?.sealedMaterial).toBeNull();
  });

  it('rotates on schedule the tenant keys whose current version is KEY_ROTATION_INTERVAL_DAYS old', async () => {
    const tenantId = randomUUID();
    const [service, owner] = [person(tenantId, [Role.Member]), person(tenantId, [Role.Owner])];
    const before = await encrypt(service, 'scheduled', 'p');
    const key = (await tenantKeyOf(owner))!;
    expect(Date.parse(key.nextRotationAt) - Date.parse(key.rotatedAt)).toBe(ROTATION_DAYS * DAY_MS);
    const startedAt = clock;
    try {
      clock = Date.parse(key.nextRotationAt) - 1000;
      await maintainKeys(keyService, keyService.services);
      expect((await tenantKeyOf(owner))!.currentVersion).toBe(1);
      clock = Date.parse(key.nextRotationAt);
      await maintainKeys(keyService, keyService.services);
      expect((await tenantKeyOf(owner))!.currentVersion).toBe(2);
      expect((await decrypt(service, before.ciphertext, 'p')).data?.decryptSecret.needsRewrap).toBe(true);
      const [latest] = (await ask<{ keyAuditEvents: { edges: { node: Record<string, unknown> }[] } }>(owner, AUDIT, { first: 2 })).data!
        .keyAuditEvents.edges;
      expect(latest?.node).toMatchObject({ action: 'DECRYPT' });
      const rotation = (
        await ask<{ keyAuditEvents: { edges: { node: Record<string, unknown> }[] } }>(owner, AUDIT, { first: 10 })
      ).data!.keyAuditEvents.edges.find(({ node }) => node.action === 'ROTATE');
      expect(rotation?.node).toEqual({
        action: 'ROTATE',
        outcome: 'SUCCEEDED',
        actorKind: 'SCHEDULE',
        actorId: null,
        keyVersion: 2,
        previousKeyVersion: 1,
        purpose: null,
      });
    } finally {
      clock = startedAt;
    }
  });

  it('re-seals its own tenant keys under a new master key, after which the previous one is no longer needed', async () => {
    const tenantId = randomUUID();
    const service = person(tenantId, [Role.Member]);
    const sealed = await encrypt(service, 'outlives the master key', 'p');
    const vaultWith = (current: string, previous: string[]) =>
      new KeyVault({
        masterKeys: new MasterKeyRing(current, previous),
        rotationIntervalMs: ROTATION_DAYS * DAY_MS,
        now: () => new Date(clock),
        logger: keyService.logger,
        onEventsRecorded: () => {},
      });
    const transition = vaultWith(NEXT_MASTER_KEY, [MASTER_KEY]);
    expect(await transition.resealUnderCurrentMasterKey(systemFork(keyService.database))).toBeGreaterThan(0);
    expect(await transition.resealUnderCurrentMasterKey(systemFork(keyService.database))).toBe(0);
    const nextOnly = vaultWith(NEXT_MASTER_KEY, []);
    const opened = await nextOnly.decrypt(tenantFork(keyService.database, service), service, {
      ciphertext: sealed.ciphertext,
      purpose: 'p',
    });
    expect(opened.plaintext).toBe('outlives the master key');
    // And back, so that the running service, configured with the first master key, keeps opening everything.
    await vaultWith(MASTER_KEY, [NEXT_MASTER_KEY]).resealUnderCurrentMasterKey(systemFork(keyService.database));
    expect((await decrypt(service, sealed.ciphertext, 'p')).data?.decryptSecret.plaintext).toBe('outlives the master key');
  });

  it('audits every operation (who, key version, purpose, outcome; never the secret) for OWNERs and ADMINs, page by page', async () => {
    const tenantId = randomUUID();
    const [service, admin] = [person(tenantId, [Role.Member]), person(tenantId, [Role.Admin])];
    const published: DomainEvent[] = [];
    const subscription = await keyService.eventBus.subscribe(
      { queue: `key-audit-test-${randomUUID()}`, bindings: ['keys.audit.#'] },
      async (event) => {
        if (event.tenantId === tenantId) published.push(event);
      },
    );
    try {
      const { ciphertext } = await encrypt(service, 'audited secret', 'smtp-password');
      await decrypt(service, ciphertext, 'smtp-password');
      await decrypt(service, ciphertext, 'other-purpose');
      await ask(admin, ROTATE);
      await rewrap(service, ciphertext, 'smtp-password');

      const firstPage = (await ask<{ keyAuditEvents: any }>(admin, AUDIT, { first: 3 })).data!.keyAuditEvents;
      expect(firstPage.pageInfo.hasNextPage).toBe(true);
      const secondPage = (await ask<{ keyAuditEvents: any }>(admin, AUDIT, { first: 3, after: firstPage.pageInfo.endCursor })).data!
        .keyAuditEvents;
      expect(secondPage.pageInfo).toEqual({ hasNextPage: false, endCursor: expect.any(String) });
      const events = [...firstPage.edges, ...secondPage.edges].map(({ node }: { node: Record<string, unknown> }) => node);
      expect(events).toEqual([
        {
          action: 'REWRAP',
          outcome: 'SUCCEEDED',
          actorKind: 'SERVICE',
          actorId: service.userId,
          keyVersion: 2,
          previousKeyVersion: 1,
          purpose: 'smtp-password',
        },
        {
          action: 'ROTATE',
          outcome: 'SUCCEEDED',
          actorKind: 'USER',
          actorId: admin.userId,
          keyVersion: 2,
          previousKeyVersion: 1,
          purpose: null,
        },
        {
          action: 'DECRYPT',
          outcome: 'WRONG_PURPOSE',
          actorKind: 'SERVICE',
          actorId: service.userId,
          keyVersion: 1,
          previousKeyVersion: null,
          purpose: 'other-purpose',
        },
        {
          action: 'DECRYPT',
          outcome: 'SUCCEEDED',
          actorKind: 'SERVICE',
          actorId: service.userId,
          keyVersion: 1,
          previousKeyVersion: null,
          purpose: 'smtp-password',
        },
        {
          action: 'ENCRYPT',
          outcome: 'SUCCEEDED',
          actorKind: 'SERVICE',
          actorId: service.userId,
          keyVersion: 1,
          previousKeyVersion: null,
          purpose: 'smtp-password',
        },
      ]);
      expect(JSON.stringify(events)).not.toContain('audited secret');

      await expect
        .poll(() => published.map((event) => event.type).sort())
        .toEqual(['keys.audit.decrypt', 'keys.audit.decrypt', 'keys.audit.encrypt', 'keys.audit.rewrap', 'keys.audit.rotate'].sort());
      expect(published.find((event) => event.type === 'keys.audit.rotate')?.payload).toMatchObject({
        outcome: 'SUCCEEDED',
        keyVersion: 2,
        previousKeyVersion: 1,
      });
      expect(JSON.stringify(published)).not.toContain('audited secret');

      for (const roles of [[Role.Member], [Role.Viewer]]) {
        const refused = await ask(person(tenantId, roles), AUDIT, { first: 3 });
        expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        expect((await ask(person(tenantId, roles), ROTATE)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      }
      expect((await ask(person(randomUUID(), [Role.Owner]), AUDIT, { first: 3 })).data?.keyAuditEvents.edges).toEqual([]);
      expect(refusal(await ask(admin, AUDIT, { first: 3, after: 'bogus' })).field).toBe('after');
    } finally {
      await subscription.stop();
    }
  });

  it('refuses anonymous callers and answers bad input with BAD_USER_INPUT naming the field', async () => {
    const anonymous = await ask({ kind: 'anonymous' }, ENCRYPT, { input: { plaintext: 'x', purpose: 'p' } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const service = person(randomUUID(), [Role.Member]);
    expect(refusal(await ask(service, ENCRYPT, { input: { plaintext: 'x', purpose: '' } }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'purpose',
    });
    expect(refusal(await ask(service, ENCRYPT, { input: { plaintext: 'x'.repeat(70_000), purpose: 'p' } }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'plaintext',
    });
    expect(refusal(await decrypt(service, '', 'p'))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ciphertext' });
  });

  it('reads KEY_SERVICE_MASTER_KEY, required in production', () => {
    expect(() => loadKeyServiceConfig({ NODE_ENV: 'production', INTERNAL_SECRET: 'x'.repeat(32) })).toThrow(/KEY_SERVICE_MASTER_KEY/);
    expect(() => loadKeyServiceConfig({ KEY_SERVICE_PREVIOUS_MASTER_KEYS: 'short' })).toThrow(/KEY_SERVICE_PREVIOUS_MASTER_KEYS/);
    expect(loadKeyServiceConfig({ KEY_SERVICE_PREVIOUS_MASTER_KEYS: `${MASTER_KEY}, ${NEXT_MASTER_KEY}` }).previousMasterKeys).toEqual([
      MASTER_KEY,
      NEXT_MASTER_KEY,
    ]);
  });
});
