import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSubgraph, Role, secretOrDevelopmentDefault, systemFork, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import { JWKS_PATH, REVOCATIONS_PATH } from '@nexusflow/topology';
import { CLOSED_PORT_URL, definitionOf } from '../../../../test/support/services.ts';
import type { TokenMgrServices } from '../src/context.ts';
import { KeyBox } from '../src/domain/key-box.ts';
import { KeyRing } from '../src/domain/key-ring.ts';
import { SigningKey } from '../src/entities/signing-key.entity.ts';
import { subgraph } from '../src/subgraph.ts';
import { PLATFORM_TENANT_ID, SigningKeyVault, TOKEN_MGR_SERVICE_USER_ID } from '../src/domain/signing-key-vault.ts';

const HOUR_MS = 3_600_000;
const ROTATION_HOURS = 24;
const LEAD_MINUTES = 60;
const TTL_SECONDS = 900;

const ISSUE = `mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { token jti expiresAt } }`;
const VERIFY = `query ($token: String!) { verifyAccessToken(token: $token) {
  __typename ... on VerifiedAccessToken { jti userId tenantId roles keyId } ... on RejectedAccessToken { reason } } }`;
const REVOKE = `mutation ($token: String!) { revokeAccessToken(token: $token) {
  __typename ... on RevokedAccessToken { jti } ... on AccessTokenNotRevocable { message } } }`;
const KEYS = '{ signingKeys { id algorithm publishedAt activatesAt retiresAt expiresAt } }';

const user = (tenantId: string, roles = [Role.Member]): Extract<Identity, { kind: 'user' }> => ({
  kind: 'user',
  userId: randomUUID(),
  tenantId,
  roles,
});

describe('the token-mgr subgraph', () => {
  let under: SubgraphUnderTest<TokenMgrServices>;
  let keyService: SubgraphUnderTest<unknown>;
  let clock = Date.now();

  beforeAll(async () => {
    // token-mgr's private keys are wrapped by key-service: it starts first.
    const keyServiceDefinition = await definitionOf('nexus-cos', 'key-service');
    keyService = await startSubgraphUnderTest('token-mgr-behaviour-key-service', (env) => keyServiceDefinition.start(env), {
      KEY_MAINTENANCE_INTERVAL_MS: '0',
    });
    under = await startSubgraphUnderTest('token-mgr-behaviour', (env) => subgraph.start(env, { clock: () => clock }), {
      KEY_SERVICE_URL: keyService.subgraph.graphqlUrl,
      ROTATE_KEYS: 'off',
      KEY_ROTATION_INTERVAL_HOURS: String(ROTATION_HOURS),
      KEY_PUBLICATION_LEAD_MINUTES: String(LEAD_MINUTES),
      ACCESS_TOKEN_TTL_SECONDS: String(TTL_SECONDS),
    });
  });

  afterAll(async () => {
    await under?.close();
    await keyService?.close();
  });

  const issue = async (holder: Extract<Identity, { kind: 'user' }>) => {
    const input = { userId: holder.userId, tenantId: holder.tenantId, roles: holder.roles };
    const issued = await under.ask<{ issueAccessToken: { token: string; jti: string } }>({ kind: 'anonymous' }, ISSUE, { input });
    expect(issued.errors).toBeUndefined();
    return issued.data!.issueAccessToken;
  };
  const verify = async (token: string) =>
    (await under.ask<{ verifyAccessToken: Record<string, unknown> }>(user(randomUUID()), VERIFY, { token })).data!.verifyAccessToken;
  const jwks = async () => (await (await fetch(`${under.subgraph.url}${JWKS_PATH}`)).json()) as { keys: Record<string, string>[] };
  const rotateAt = async (at: number) => {
    clock = at;
    await under.subgraph.services.keys.rotate(under.subgraph.database.fork(), new Date(clock));
  };

  it('issues an EdDSA token that verifies with its claims, signed by a key the JWKS publishes without its private half', async () => {
    const holder = user(randomUUID(), [Role.Admin]);
    const { token, jti } = await issue(holder);
    const { kid, alg } = decodeProtectedHeader(token);
    expect(alg).toBe('EdDSA');
    expect(await verify(token)).toEqual({
      __typename: 'VerifiedAccessToken',
      jti,
      userId: holder.userId,
      tenantId: holder.tenantId,
      roles: ['ADMIN'],
      keyId: kid,
    });
    const published = (await jwks()).keys.find((key) => key.kid === kid);
    expect(published).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid, alg: 'EdDSA', use: 'sig' });
  });

  /** Asks key-service to open a wrapped private key, as `tenantId` would. */
  const openWrapped = (stored: string, keyId: string, tenantId: string) =>
    callSubgraph<{ decryptSecret: { plaintext: string } }, unknown>({
      url: keyService.subgraph.graphqlUrl,
      query: 'mutation ($input: DecryptSecretInput!) { decryptSecret(input: $input) { plaintext } }',
      variables: { input: { ciphertext: stored.replace(/^key-service:/, ''), purpose: `token-mgr-signing-key:${keyId}` } },
      identity: { kind: 'user', userId: TOKEN_MGR_SERVICE_USER_ID, tenantId, roles: [Role.Member] },
      internalSecret: keyService.subgraph.config.internalSecret,
    });

  it("keeps private keys wrapped by key-service under the platform tenant's key, bound to their own key id", async () => {
    const [key] = await systemFork(under.subgraph.database).find(SigningKey, {}, { limit: 1 });
    expect(key!.sealedPrivateKey).toMatch(/^key-service:ks1\./);
    expect(key!.sealedPrivateKey).not.toContain('PRIVATE KEY');
    expect((await openWrapped(key!.sealedPrivateKey, key!.id, PLATFORM_TENANT_ID)).decryptSecret.plaintext).toContain('PRIVATE KEY');
    await expect(openWrapped(key!.sealedPrivateKey, key!.id, randomUUID())).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await expect(openWrapped(key!.sealedPrivateKey, randomUUID(), PLATFORM_TENANT_ID)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(() => new KeyBox(secretOrDevelopmentDefault(undefined)).open(key!.sealedPrivateKey, key!.id)).toThrow();
  });

  it('still opens a key sealed the old way (TOKEN_KEY_ENCRYPTION_KEY), and moves it to key-service at the next pass', async () => {
    const em = systemFork(under.subgraph.database);
    const active = await em.findOneOrFail(SigningKey, { activatesAt: { $lte: new Date(clock) } }, { orderBy: { activatesAt: 'desc' } });
    const pem = (await openWrapped(active.sealedPrivateKey, active.id, PLATFORM_TENANT_ID)).decryptSecret.plaintext;
    active.sealedPrivateKey = new KeyBox(secretOrDevelopmentDefault(undefined)).seal(pem, active.id);
    await em.flush();
    // A ring of a fresh instance, which has no private key cached: it opens the stored one.
    const fresh = new KeyRing(under.subgraph.services.vault, {
      intervalMs: ROTATION_HOURS * HOUR_MS,
      publicationLeadMs: 60_000,
      tokenTtlMs: 60_000,
    });
    expect((await fresh.activeKey(em.fork(), new Date(clock))).id).toBe(active.id);

    await under.subgraph.services.keys.rotate(em.fork(), new Date(clock));
    const moved = await systemFork(under.subgraph.database).findOneOrFail(SigningKey, { id: active.id });
    expect(moved.sealedPrivateKey).toMatch(/^key-service:ks1\./);
    expect((await openWrapped(moved.sealedPrivateKey, moved.id, PLATFORM_TENANT_ID)).decryptSecret.plaintext).toBe(pem);
  });

  it('publishes a successor before it signs, and keeps the retired key until the tokens it signed have expired', async () => {
    const holder = user(randomUUID());
    const before = await issue(holder);
    const oldKid = decodeProtectedHeader(before.token).kid!;
    const [active] = (await under.ask<{ signingKeys: { id: string; activatesAt: string }[] }>(holder, KEYS)).data!.signingKeys;
    const activatedAt = Date.parse(active!.activatesAt);

    await rotateAt(activatedAt + (ROTATION_HOURS * 60 - 2 * LEAD_MINUTES) * 60_000);
    const published = (await jwks()).keys.map((key) => key.kid);
    expect(published).toHaveLength(2);
    const newKid = published.find((kid) => kid !== oldKid)!;
    expect(decodeProtectedHeader((await issue(holder)).token).kid).toBe(oldKid);

    await rotateAt(activatedAt + ROTATION_HOURS * HOUR_MS - 1000);
    const lastOfOld = await issue(holder);
    expect(decodeProtectedHeader(lastOfOld.token).kid).toBe(oldKid);
    await rotateAt(activatedAt + ROTATION_HOURS * HOUR_MS);
    const after = await issue(holder);
    expect(decodeProtectedHeader(after.token).kid).toBe(newKid);
    await rotateAt(activatedAt + ROTATION_HOURS * HOUR_MS + (TTL_SECONDS - 60) * 1000);
    expect(await verify(lastOfOld.token)).toMatchObject({ __typename: 'VerifiedAccessToken', keyId: oldKid });
    expect(await verify(after.token)).toMatchObject({ __typename: 'VerifiedAccessToken', keyId: newKid });

    await rotateAt(activatedAt + ROTATION_HOURS * HOUR_MS + TTL_SECONDS * 1000);
    expect((await jwks()).keys.map((key) => key.kid)).toEqual([newKid]);
    expect(await verify(lastOfOld.token)).toEqual({ __typename: 'RejectedAccessToken', reason: 'UNKNOWN_KEY' });
  });

  it("revokes the caller's own token, which verification then refuses, and lists it by jti", async () => {
    const holder = user(randomUUID(), [Role.Viewer]);
    const { token, jti } = await issue(holder);
    expect((await under.ask(holder, REVOKE, { token })).data).toEqual({ revokeAccessToken: { __typename: 'RevokedAccessToken', jti } });
    expect(await verify(token)).toEqual({ __typename: 'RejectedAccessToken', reason: 'REVOKED' });
    expect(await (await fetch(`${under.subgraph.url}${REVOCATIONS_PATH}${jti}`)).json()).toEqual({ jti, revoked: true });
    expect(await (await fetch(`${under.subgraph.url}${REVOCATIONS_PATH}${randomUUID()}`)).json()).toMatchObject({ revoked: false });
  });

  it("lets an ADMIN revoke a token of its tenant, but nobody another's token of another tenant, nor a MEMBER a colleague's", async () => {
    const tenantId = randomUUID();
    const holder = user(tenantId);
    const { token } = await issue(holder);
    const refused = { revokeAccessToken: { __typename: 'AccessTokenNotRevocable', message: expect.any(String) } };
    expect((await under.ask(user(randomUUID(), [Role.Owner]), REVOKE, { token })).data).toEqual(refused);
    expect((await under.ask(user(tenantId), REVOKE, { token })).data).toEqual(refused);
    expect(await verify(token)).toMatchObject({ __typename: 'VerifiedAccessToken' });
    expect((await under.ask(user(tenantId, [Role.Admin]), REVOKE, { token })).data).toMatchObject({
      revokeAccessToken: { __typename: 'RevokedAccessToken' },
    });
  });

  it('refuses tokens it did not sign, tampered ones and malformed issue input', async () => {
    const { token } = await issue(user(randomUUID()));
    const [header, payload, signature] = token.split('.');
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), roles: ['OWNER'] })).toString('base64url')}.${signature}`;
    expect(await verify(tampered)).toEqual({ __typename: 'RejectedAccessToken', reason: 'INVALID' });
    expect(await verify('not a token')).toEqual({ __typename: 'RejectedAccessToken', reason: 'INVALID' });
    const input = { userId: 'not-a-uuid', tenantId: randomUUID(), roles: ['MEMBER'] };
    const refused = await under.ask({ kind: 'anonymous' }, ISSUE, { input });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    const anonymous = await under.ask({ kind: 'anonymous' }, REVOKE, { token });
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(under.loggedErrors).toEqual([]);
  });

  it('is ready only while key-service, which wraps its private keys, answers', async () => {
    expect((await under.subgraph.health.readiness()).checks.keyService).toEqual({ status: 'up' });
    const unreachable = new SigningKeyVault(
      { url: CLOSED_PORT_URL, internalSecret: under.subgraph.config.internalSecret },
      new KeyBox(secretOrDevelopmentDefault(undefined)),
    );
    await expect(unreachable.ping()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });
});
