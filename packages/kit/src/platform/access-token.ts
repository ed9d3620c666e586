import { errors, jwtVerify, SignJWT } from 'jose';
import { Role, type Identity } from './identity.ts';

/** Issued by the auth subgraph, verified by the gateway: the one definition of an access token. */
export const ACCESS_TOKEN_ISSUER = 'nexusflow-auth';
export const ACCESS_TOKEN_AUDIENCE = 'nexusflow-api';

export interface AccessTokenSubject {
  userId: string;
  tenantId: string;
  roles: Role[];
  /** The sign-in the token belongs to (the `sid` claim), which the gateway checks against revoked sessions. */
  sessionId?: string;
}

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function signAccessToken(subject: AccessTokenSubject, secret: string, ttlSeconds: number, now = Date.now()) {
  const issuedAt = Math.floor(now / 1000);
  const expiresAt = issuedAt + ttlSeconds;
  const claims = subject.sessionId
    ? { tid: subject.tenantId, roles: subject.roles, sid: subject.sessionId }
    : { tid: subject.tenantId, roles: subject.roles };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject.userId)
    .setIssuer(ACCESS_TOKEN_ISSUER)
    .setAudience(ACCESS_TOKEN_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(crypto.randomUUID())
    .sign(key(secret));
  return { token, expiresAt: new Date(expiresAt * 1000) };
}

export type AccessTokenVerification = { ok: true; identity: Identity; expiresAt: Date } | { ok: false; reason: 'expired' | 'invalid' };

const roles = new Set<string>(Object.values(Role));

export async function verifyAccessToken(token: string, secret: string, now = Date.now()): Promise<AccessTokenVerification> {
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      issuer: ACCESS_TOKEN_ISSUER,
      audience: ACCESS_TOKEN_AUDIENCE,
      algorithms: ['HS256'],
      currentDate: new Date(now),
      // A token without an expiry would be valid for ever once leaked.
      requiredClaims: ['exp', 'sub'],
    });
    const claimedRoles = payload.roles;
    if (
      typeof payload.sub !== 'string' ||
      typeof payload.tid !== 'string' ||
      !Array.isArray(claimedRoles) ||
      !claimedRoles.every((role) => typeof role === 'string' && roles.has(role)) ||
      (payload.sid !== undefined && typeof payload.sid !== 'string')
    ) {
      return { ok: false, reason: 'invalid' };
    }
    const identity: Identity = { kind: 'user', userId: payload.sub, tenantId: payload.tid, roles: claimedRoles as Role[] };
    if (typeof payload.sid === 'string') identity.sessionId = payload.sid;
    return { ok: true, identity, expiresAt: new Date(payload.exp! * 1000) };
  } catch (error) {
    return { ok: false, reason: error instanceof errors.JWTExpired ? 'expired' : 'invalid' };
  }
}
