import { createHmac } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import {
  ANONYMOUS,
  hasRole,
  IDENTITY_MAX_AGE_MS,
  IdentityHeader,
  MAX_SIGNED_USER_AGENT_LENGTH,
  Role,
  scopesOf,
  signIdentity,
  verifyIdentity,
  type Identity,
} from './identity.ts';

const SECRET = 'identity-test-secret-identity-test-secret';
const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);

const user: Identity = { kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Admin, Role.Member] };

function lookup(headers: Record<string, string | undefined>) {
  return (name: string) => headers[name];
}

/** Encodes and signs arbitrary claims the way a gateway holding the secret would. */
function signRaw(json: string, secret = SECRET): Record<IdentityHeader, string> {
  const value = Buffer.from(json).toString('base64url');
  return { [IdentityHeader.Identity]: value, [IdentityHeader.Signature]: createHmac('sha256', secret).update(value).digest('base64url') };
}

describe('signIdentity', () => {
  it('produces the identity header and its signature under their lower-case names', () => {
    const headers = signIdentity(user, SECRET, NOW);

    expect(Object.keys(headers).sort()).toEqual(['x-nexusflow-identity', 'x-nexusflow-identity-signature']);
    expect(JSON.parse(Buffer.from(headers[IdentityHeader.Identity], 'base64url').toString('utf8'))).toEqual({
      identity: user,
      issuedAt: NOW,
    });
  });

  it('signs differently with a different secret', () => {
    const one = signIdentity(user, SECRET, NOW);
    const other = signIdentity(user, `${SECRET}-other`, NOW);

    expect(other[IdentityHeader.Identity]).toBe(one[IdentityHeader.Identity]);
    expect(other[IdentityHeader.Signature]).not.toBe(one[IdentityHeader.Signature]);
  });
});

describe('verifyIdentity', () => {
  it('accepts a user identity it signed, with the same roles', () => {
    const result = verifyIdentity(lookup(signIdentity(user, SECRET, NOW)), SECRET, NOW);

    expect(result).toEqual({ ok: true, identity: user });
  });

  it("carries a user's session id and the client's User-Agent, cut to a bounded length", () => {
    const signedIn = { ...user, sessionId: 'session-1' };
    const headers = signIdentity(signedIn, SECRET, NOW, '203.0.113.7', `Phone/${'x'.repeat(500)}`);

    const result = verifyIdentity(lookup(headers), SECRET, NOW);

    expect(result).toEqual({ ok: true, identity: signedIn, clientAddress: '203.0.113.7', userAgent: expect.any(String) });
    expect(result.ok && result.userAgent).toHaveLength(MAX_SIGNED_USER_AGENT_LENGTH);
  });

  it('carries the client address the gateway saw, under the same signature', () => {
    const headers = signIdentity(ANONYMOUS, SECRET, NOW, '203.0.113.7');
    expect(verifyIdentity(lookup(headers), SECRET, NOW)).toEqual({ ok: true, identity: ANONYMOUS, clientAddress: '203.0.113.7' });

    const claims = JSON.parse(Buffer.from(headers[IdentityHeader.Identity], 'base64url').toString('utf8')) as Record<string, unknown>;
    const moved = Buffer.from(JSON.stringify({ ...claims, clientAddress: '198.51.100.1' })).toString('base64url');
    expect(verifyIdentity(lookup({ ...headers, [IdentityHeader.Identity]: moved }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyIdentity(lookup(signRaw(JSON.stringify({ ...claims, clientAddress: 7 }))), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('accepts a signed anonymous identity', () => {
    const result = verifyIdentity(lookup(signIdentity(ANONYMOUS, SECRET, NOW)), SECRET, NOW);

    expect(result).toEqual({ ok: true, identity: ANONYMOUS });
  });

  it('reports missing when either header is absent or empty', () => {
    const headers = signIdentity(user, SECRET, NOW);

    expect(verifyIdentity(lookup({}), SECRET, NOW)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyIdentity(lookup({ [IdentityHeader.Identity]: headers[IdentityHeader.Identity] }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'missing',
    });
    expect(verifyIdentity(lookup({ [IdentityHeader.Signature]: headers[IdentityHeader.Signature] }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'missing',
    });
    expect(verifyIdentity(lookup({ ...headers, [IdentityHeader.Signature]: '' }), SECRET, NOW)).toEqual({ ok: false, reason: 'missing' });
  });

  it('refuses an identity signed with another secret', () => {
    const headers = signIdentity(user, 'some-other-secret-some-other-secret', NOW);

    expect(verifyIdentity(lookup(headers), SECRET, NOW)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses an identity whose JSON was altered after signing', () => {
    const headers = signIdentity({ kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Viewer] }, SECRET, NOW);
    const escalated = Buffer.from(
      JSON.stringify({ identity: { kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Owner] }, issuedAt: NOW }),
    ).toString('base64url');

    const result = verifyIdentity(lookup({ ...headers, [IdentityHeader.Identity]: escalated }), SECRET, NOW);

    expect(result).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses a signature of the wrong length without throwing', () => {
    const headers = signIdentity(user, SECRET, NOW);

    expect(verifyIdentity(lookup({ ...headers, [IdentityHeader.Signature]: 'short' }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it(`accepts an identity issued exactly ${IDENTITY_MAX_AGE_MS} ms ago and refuses one a millisecond older`, () => {
    const headers = lookup(signIdentity(user, SECRET, NOW));

    expect(verifyIdentity(headers, SECRET, NOW + IDENTITY_MAX_AGE_MS)).toEqual({ ok: true, identity: user });
    expect(verifyIdentity(headers, SECRET, NOW + IDENTITY_MAX_AGE_MS + 1)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses an identity issued too far in the future of the local clock', () => {
    const headers = lookup(signIdentity(user, SECRET, NOW + IDENTITY_MAX_AGE_MS + 1));

    expect(verifyIdentity(headers, SECRET, NOW)).toEqual({ ok: false, reason: 'expired' });
  });

  it('reports malformed for correctly signed claims that are not JSON', () => {
    expect(verifyIdentity(lookup(signRaw('{not json')), SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('reports malformed for correctly signed claims with an unknown role', () => {
    const headers = signRaw(JSON.stringify({ identity: { kind: 'user', userId: 'u', tenantId: 't', roles: ['ROOT'] }, issuedAt: NOW }));

    expect(verifyIdentity(lookup(headers), SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('reports malformed for correctly signed claims missing the user or tenant', () => {
    const noUser = signRaw(JSON.stringify({ identity: { kind: 'user', tenantId: 't', roles: [] }, issuedAt: NOW }));
    const noTenant = signRaw(JSON.stringify({ identity: { kind: 'user', userId: 'u', roles: [] }, issuedAt: NOW }));
    const unknownKind = signRaw(JSON.stringify({ identity: { kind: 'service' }, issuedAt: NOW }));

    expect(verifyIdentity(lookup(noUser), SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyIdentity(lookup(noTenant), SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyIdentity(lookup(unknownKind), SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('reports malformed for correctly signed claims without a numeric issue time', () => {
    const headers = signRaw(JSON.stringify({ identity: ANONYMOUS, issuedAt: String(NOW) }));

    expect(verifyIdentity(lookup(headers), SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('keeps only the known fields of a user identity', () => {
    const headers = signRaw(
      JSON.stringify({ identity: { kind: 'user', userId: 'u', tenantId: 't', roles: [Role.Viewer], isSuperUser: true }, issuedAt: NOW }),
    );

    expect(verifyIdentity(lookup(headers), SECRET, NOW)).toEqual({
      ok: true,
      identity: { kind: 'user', userId: 'u', tenantId: 't', roles: [Role.Viewer] },
    });
  });
});

describe('hasRole', () => {
  it('is true when the user holds any of the wanted roles', () => {
    expect(hasRole(user, Role.Owner, Role.Admin)).toBe(true);
    expect(hasRole(user, Role.Member)).toBe(true);
  });

  it('is false when the user holds none of them', () => {
    expect(hasRole(user, Role.Owner, Role.Viewer)).toBe(false);
    expect(hasRole(user)).toBe(false);
  });

  it('is false for anonymous callers', () => {
    expect(hasRole(ANONYMOUS, Role.Owner, Role.Admin, Role.Member, Role.Viewer)).toBe(false);
  });
});

describe('verifyIdentity on correctly signed claims that are not an object', () => {
  it.each(['null', '42', '"a string"'])('answers malformed for %s instead of throwing', (json) => {
    expect(verifyIdentity(lookup(signRaw(json)), SECRET)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('scopesOf', () => {
  const withRoles = (...roles: Role[]): Identity => ({ kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles });

  it('gives anonymous callers no scope at all', () => {
    expect(scopesOf(ANONYMOUS)).toEqual([]);
  });

  it('gives each role its own scope and every scope of the roles below it', () => {
    expect(scopesOf(withRoles(Role.Viewer))).toEqual(['read']);
    expect(scopesOf(withRoles(Role.Member))).toEqual(['read', 'write']);
    expect(scopesOf(withRoles(Role.Admin))).toEqual(['read', 'write', 'admin']);
    expect(scopesOf(withRoles(Role.Owner))).toEqual(['read', 'write', 'admin', 'owner']);
  });

  it('gives a caller with several roles each scope once', () => {
    expect(scopesOf(withRoles(Role.Viewer, Role.Admin, Role.Member))).toEqual(['read', 'write', 'admin']);
  });
});

describe('an API key caller through a signed identity', () => {
  it('keeps saying it came with an API key, and a person stays a person', () => {
    const key: Identity = { kind: 'user', userId: 'key-1', tenantId: 'tenant-1', roles: [Role.Viewer], via: 'api-key' };

    expect(verifyIdentity(lookup(signIdentity(key, SECRET, NOW)), SECRET, NOW)).toEqual({ ok: true, identity: key });
    expect(verifyIdentity(lookup(signIdentity(user, SECRET, NOW)), SECRET, NOW)).toEqual({ ok: true, identity: user });
  });

  it('refuses a credential kind it does not know as malformed', () => {
    const headers = signRaw(JSON.stringify({ identity: { ...user, via: 'carrier-pigeon' }, issuedAt: NOW }));

    expect(verifyIdentity(lookup(headers), SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });
});
