import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, secretOrDevelopmentDefault, systemFork, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import { JWKS_PATH, REVOCATIONS_PATH } from '@nexusflow/topology';
import type { TokenMgrServices } from '../src/context.ts';
import { KeyBox } from '../src/domain/key-box.ts';
import { SigningKey } from '../src/entities/signing-key.entity.ts';
import { subgraph } from '../src/subgraph.ts';

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
  let clock = Date.now();

  beforeAll(async () => {
    under = await startSubgraphUnderTest('token-mgr-behaviour', (env) => subgraph.start(env, { clock: () => clock }), {
      ROTATE_KEYS: 'off',
      KEY_ROTATION_INTERVAL_HOURS: String(ROTATION_HOURS),
      KEY_PUBLICATION_LEAD_MINUTES: String(LEAD_MINUTES),
      ACCESS_TOKEN_TTL_SECONDS: String(TTL_SECONDS),
    });
  });

  afterAll(async () => {
    await under?.close();
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

  it('keeps private keys sealed at rest, opening only with the configured key for their own row', async () => {
    const [key] = await systemFork(under.subgraph.database).find(SigningKey, {}, { limit: 1 });
    expect(key!.sealedPrivateKey).not.toContain('PRIVATE KEY');
    expect(new KeyBox(secretOrDevelopmentDefault(undefined)).open(key!.sealedPrivateKey, key!.id)).toContain('PRIVATE KEY');
    expect(() => new KeyBox('another key-encryption key of 32 characters').open(key!.sealedPrivateKey, key!.id)).toThrow();
    expect(() => new KeyBox(secretOrDevelopmentDefault(undefined)).open(key!.sealedPrivateKey, randomUUID())).toThrow();
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
});
