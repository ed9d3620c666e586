import { describe, it, expect } from 'vitest';
import { decodeJwt, decodeProtectedHeader, SignJWT, UnsecuredJWT } from 'jose';
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, signAccessToken, verifyAccessToken, type AccessTokenSubject } from './access-token.ts';
import { Role } from './identity.ts';

const SECRET = 'access-token-test-secret-access-token-test-secret';
/** A whole second, so that the token's second-based times line up with it exactly. */
const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const TTL_SECONDS = 900;

const subject: AccessTokenSubject = { userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Member, Role.Viewer] };

/** A token signed with the right key but with claims chosen by the test. */
function craft(
  claims: Record<string, unknown>,
  options: { issuer?: string; audience?: string; subject?: string; secret?: string; expires?: boolean } = {},
) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(options.issuer ?? ACCESS_TOKEN_ISSUER)
    .setAudience(options.audience ?? ACCESS_TOKEN_AUDIENCE)
    .setIssuedAt(NOW / 1000);
  if (options.expires ?? true) jwt.setExpirationTime(NOW / 1000 + TTL_SECONDS);
  if (options.subject !== undefined) jwt.setSubject(options.subject);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

describe('signAccessToken', () => {
  it("names the token's session in the sid claim, which verification turns into the identity's session id", async () => {
    const { token } = await signAccessToken({ ...subject, sessionId: 'session-1' }, SECRET, TTL_SECONDS, NOW);

    expect(decodeJwt(token)).toMatchObject({ sid: 'session-1' });
    expect(await verifyAccessToken(token, SECRET, NOW)).toMatchObject({ ok: true, identity: { sessionId: 'session-1' } });
    expect(await verifyAccessToken(await craft({ tid: 'tenant-1', roles: [], sid: 7 }, { subject: 'user-1' }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('issues an HS256 JWT for the subject, from the auth issuer to the API audience', async () => {
    const { token } = await signAccessToken(subject, SECRET, TTL_SECONDS, NOW);

    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(decodeJwt(token)).toMatchObject({
      sub: 'user-1',
      tid: 'tenant-1',
      roles: [Role.Member, Role.Viewer],
      iss: ACCESS_TOKEN_ISSUER,
      aud: ACCESS_TOKEN_AUDIENCE,
      iat: NOW / 1000,
      exp: NOW / 1000 + TTL_SECONDS,
    });
  });

  it('reports when the token expires', async () => {
    const { expiresAt } = await signAccessToken(subject, SECRET, TTL_SECONDS, NOW);

    expect(expiresAt).toEqual(new Date(NOW + TTL_SECONDS * 1000));
  });

  it('gives every token its own id', async () => {
    const first = await signAccessToken(subject, SECRET, TTL_SECONDS, NOW);
    const second = await signAccessToken(subject, SECRET, TTL_SECONDS, NOW);

    expect(decodeJwt(first.token).jti).toEqual(expect.any(String));
    expect(decodeJwt(first.token).jti).not.toBe(decodeJwt(second.token).jti);
    expect(first.token).not.toBe(second.token);
  });
});

describe('verifyAccessToken', () => {
  it('turns a token it issued into the user identity and the moment the token expires', async () => {
    const { token, expiresAt } = await signAccessToken(subject, SECRET, TTL_SECONDS, NOW);

    expect(await verifyAccessToken(token, SECRET, NOW)).toEqual({
      ok: true,
      identity: { kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Member, Role.Viewer] },
      expiresAt,
    });
    expect(expiresAt.getTime()).toBe(NOW + TTL_SECONDS * 1000);
  });

  it('refuses a correctly signed token that never expires', async () => {
    const forever = await craft({ tid: 'tenant-1', roles: [Role.Member] }, { subject: 'user-1', expires: false });

    expect(await verifyAccessToken(forever, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('accepts a token until the last millisecond before it expires', async () => {
    const { token } = await signAccessToken(subject, SECRET, TTL_SECONDS, NOW);

    expect(await verifyAccessToken(token, SECRET, NOW + TTL_SECONDS * 1000 - 1)).toMatchObject({ ok: true });
  });

  it('reports expired from the moment the token expires', async () => {
    const { token, expiresAt } = await signAccessToken(subject, SECRET, TTL_SECONDS, NOW);

    expect(await verifyAccessToken(token, SECRET, expiresAt.getTime())).toEqual({ ok: false, reason: 'expired' });
    expect(await verifyAccessToken(token, SECRET, expiresAt.getTime() + 86_400_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a token signed with another secret', async () => {
    const { token } = await signAccessToken(subject, 'another-secret-another-secret-another-secret', TTL_SECONDS, NOW);

    expect(await verifyAccessToken(token, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const { token } = await signAccessToken({ ...subject, roles: [Role.Viewer] }, SECRET, TTL_SECONDS, NOW);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const escalated = Buffer.from(JSON.stringify({ ...claims, roles: [Role.Owner] })).toString('base64url');

    expect(await verifyAccessToken(`${header}.${escalated}.${signature}`, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses an unsigned token', async () => {
    const token = new UnsecuredJWT({ tid: 'tenant-1', roles: [Role.Owner] })
      .setSubject('user-1')
      .setIssuer(ACCESS_TOKEN_ISSUER)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt(NOW / 1000)
      .setExpirationTime(NOW / 1000 + TTL_SECONDS)
      .encode();

    expect(await verifyAccessToken(token, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a token from another issuer or for another audience', async () => {
    const claims = { tid: 'tenant-1', roles: [Role.Member] };
    const otherIssuer = await craft(claims, { subject: 'user-1', issuer: 'someone-else' });
    const otherAudience = await craft(claims, { subject: 'user-1', audience: 'another-api' });
    const control = await craft(claims, { subject: 'user-1' });

    expect(await verifyAccessToken(control, SECRET, NOW)).toMatchObject({ ok: true });
    expect(await verifyAccessToken(otherIssuer, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyAccessToken(otherAudience, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a correctly signed token without a subject or tenant', async () => {
    const noSubject = await craft({ tid: 'tenant-1', roles: [Role.Member] });
    const noTenant = await craft({ roles: [Role.Member] }, { subject: 'user-1' });

    expect(await verifyAccessToken(noSubject, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyAccessToken(noTenant, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a correctly signed token with an unknown role or without a role list', async () => {
    const unknownRole = await craft({ tid: 'tenant-1', roles: [Role.Member, 'SUPERUSER'] }, { subject: 'user-1' });
    const rolesNotAList = await craft({ tid: 'tenant-1', roles: Role.Owner }, { subject: 'user-1' });
    const noRoles = await craft({ tid: 'tenant-1' }, { subject: 'user-1' });

    expect(await verifyAccessToken(unknownRole, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyAccessToken(rolesNotAList, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyAccessToken(noRoles, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('reports invalid, without throwing, for a string that is not a JWT', async () => {
    expect(await verifyAccessToken('not-a-jwt', SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyAccessToken('', SECRET, NOW)).toEqual({ ok: false, reason: 'invalid' });
  });
});
