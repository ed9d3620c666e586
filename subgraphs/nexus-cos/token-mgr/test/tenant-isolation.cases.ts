import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const KEYS = '{ signingKeys { id algorithm publishedAt activatesAt retiresAt expiresAt } }';
const VERIFY = `query ($token: String!) { verifyAccessToken(token: $token) {
  __typename ... on VerifiedAccessToken { jti userId tenantId roles keyId expiresAt } ... on RejectedAccessToken { reason } } }`;
const REVOKE = `mutation ($token: String!) { revokeAccessToken(token: $token) {
  __typename ... on RevokedAccessToken { jti } ... on AccessTokenNotRevocable { message } } }`;

/** The claims a compact JWS carries in the clear: whoever holds the token can read them without asking anyone. */
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

/**
 * Tenant B (a stranger) can neither revoke tenant A's access tokens nor learn from token-mgr more than a token says of
 * itself: run by test/integration/nexus-cos-tenant-isolation.test.ts. Tenant A's token is the one it acts with, so a
 * revocation by B would end every later request of A's. token-mgr resolves no entities.
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const verified = (await data(a, VERIFY, { token: a.token })).verifyAccessToken;
    expect(verified.__typename).toBe('VerifiedAccessToken');
    return { token: a.token, jti: verified.jti as string };
  },
  // A's token, as token-mgr judges it: still honoured, with A's claims.
  stateOfA: ({ a, data }, { token }) => data(a, VERIFY, { token }),
  root: {
    // Signing keys are platform-wide: every verifier of every tenant needs the same public keys (they are in the JWKS at
    // /.well-known/jwks.json for anyone). So tenant B sees exactly what A sees, and nothing there names a tenant or a user.
    'Query.signingKeys': async ({ a, b, data }) => {
      const seenByB = (await data(b, KEYS)).signingKeys as Record<string, unknown>[];
      expect(seenByB).toEqual((await data(a, KEYS)).signingKeys);
      expect(seenByB.length).toBeGreaterThan(0);
      for (const key of seenByB)
        expect(Object.keys(key).sort()).toEqual(['activatesAt', 'algorithm', 'expiresAt', 'id', 'publishedAt', 'retiresAt']);
    },
    // Verification tells the holder of a token only what the token already says of itself in the clear: B holding A's
    // token (it cannot get one from token-mgr) learns nothing token-mgr keeps, and tokens B makes up are refused.
    'Query.verifyAccessToken': async ({ b, data }, { token, jti }) => {
      const claims = claimsOf(token);
      const verified = (await data(b, VERIFY, { token })).verifyAccessToken;
      expect(verified).toMatchObject({ __typename: 'VerifiedAccessToken', jti, userId: claims.sub, tenantId: claims.tid });
      const [header, , signature] = token.split('.') as [string, string, string];
      const forgedPayload = Buffer.from(JSON.stringify({ ...claimsOf(b.token), tid: claims.tid })).toString('base64url');
      expect((await data(b, VERIFY, { token: `${header}.${forgedPayload}.${signature}` })).verifyAccessToken).toEqual({
        __typename: 'RejectedAccessToken',
        reason: 'INVALID',
      });
    },
    // B is OWNER of its own tenant: that lets it revoke its tenant's tokens, never A's; A's keeps working (stateOfA).
    'Mutation.revokeAccessToken': async ({ b, data }, { token }) => {
      expect((await data(b, REVOKE, { token })).revokeAccessToken).toEqual({
        __typename: 'AccessTokenNotRevocable',
        message: expect.any(String),
      });
    },
  },
  entities: {},
});
