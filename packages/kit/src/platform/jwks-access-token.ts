import { LRUCache } from 'lru-cache';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { AccessTokenVerification } from './access-token.ts';
import { Role, type Identity } from './identity.ts';

/**
 * Access tokens signed with asymmetric keys by an issuer that publishes them as a JWKS (Nexus COS's token-mgr), checked
 * with no shared secret: by the gateway (ACCESS_TOKEN_JWKS_URL and its companions) and by a service that authenticates a
 * COS user itself (auth-service-v2's authorization interaction).
 */
export interface JwksAccessTokenSettings {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** The signing algorithms accepted; a token's `alg` outside them is refused before any key is looked up. */
  algorithms: readonly string[];
  /** How long the JWKS is reused before it is fetched again; a token naming a key not in it refetches it sooner. */
  cacheMaxAgeMs: number;
  /** The least time between two fetches for unknown keys: a flood of forged `kid`s cannot make the gateway hammer the issuer. */
  cooldownMs: number;
  /** `GET <revocationsUrl><jti>` answers `{ "revoked": boolean }`; unset, revocation is not checked. */
  revocationsUrl: string | undefined;
  /** How long an answer about a token's revocation is reused: how late a revocation may be seen. */
  revocationCacheMs: number;
}

const roles = new Set<string>(Object.values(Role));
/** How long the issuer may take to say whether a token is revoked; past it the token counts as not revoked. */
const REVOCATION_TIMEOUT_MS = 1000;
const MAX_CACHED_REVOCATIONS = 50_000;

interface JwksVerifier {
  keys: ReturnType<typeof createRemoteJWKSet>;
  revocations: LRUCache<string, { revoked: boolean }> | undefined;
}

/** One key set and one revocation cache per configuration, kept for the life of the process. */
const verifiers = new WeakMap<JwksAccessTokenSettings, JwksVerifier>();

function verifierOf(settings: JwksAccessTokenSettings): JwksVerifier {
  let verifier = verifiers.get(settings);
  if (!verifier) {
    verifier = {
      keys: createRemoteJWKSet(new URL(settings.jwksUrl), {
        cacheMaxAge: settings.cacheMaxAgeMs,
        cooldownDuration: settings.cooldownMs,
        timeoutDuration: 5000,
      }),
      revocations:
        settings.revocationCacheMs > 0 ? new LRUCache({ max: MAX_CACHED_REVOCATIONS, ttl: settings.revocationCacheMs }) : undefined,
    };
    verifiers.set(settings, verifier);
  }
  return verifier;
}

/**
 * Whether the issuer lists the token as revoked. When it cannot say (down, slow), the token counts as not revoked, as
 * revoked sessions fail open: the token is validly signed and expires within its short lifetime.
 */
async function isRevoked(settings: JwksAccessTokenSettings, verifier: JwksVerifier, jti: string): Promise<boolean> {
  if (!settings.revocationsUrl) return false;
  const cached = verifier.revocations?.get(jti);
  if (cached) return cached.revoked;
  try {
    const response = await fetch(`${settings.revocationsUrl}${encodeURIComponent(jti)}`, {
      signal: AbortSignal.timeout(REVOCATION_TIMEOUT_MS),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return false;
    }
    const revoked = ((await response.json()) as { revoked?: unknown }).revoked === true;
    verifier.revocations?.set(jti, { revoked });
    return revoked;
  } catch {
    return false;
  }
}

/** The caller an access token names, when a key of the issuer's JWKS signed it and it is neither expired nor revoked. */
export async function verifyJwksAccessToken(
  token: string,
  settings: JwksAccessTokenSettings,
  now = Date.now(),
): Promise<AccessTokenVerification> {
  const verifier = verifierOf(settings);
  try {
    const { payload } = await jwtVerify(token, verifier.keys, {
      issuer: settings.issuer,
      audience: settings.audience,
      algorithms: [...settings.algorithms],
      currentDate: new Date(now),
      requiredClaims: ['exp', 'sub', 'jti'],
    });
    const claimedRoles = payload.roles;
    if (
      typeof payload.sub !== 'string' ||
      typeof payload.tid !== 'string' ||
      typeof payload.jti !== 'string' ||
      !Array.isArray(claimedRoles) ||
      !claimedRoles.every((role) => typeof role === 'string' && roles.has(role)) ||
      (payload.sid !== undefined && typeof payload.sid !== 'string')
    ) {
      return { ok: false, reason: 'invalid' };
    }
    if (await isRevoked(settings, verifier, payload.jti)) return { ok: false, reason: 'invalid' };
    const identity: Identity = { kind: 'user', userId: payload.sub, tenantId: payload.tid, roles: claimedRoles as Role[] };
    if (typeof payload.sid === 'string') identity.sessionId = payload.sid;
    return { ok: true, identity, expiresAt: new Date(payload.exp! * 1000) };
  } catch (error) {
    return { ok: false, reason: error instanceof errors.JWTExpired ? 'expired' : 'invalid' };
  }
}

const BEARER = /^Bearer\s+(\S+)$/i;

/** The token of an `Authorization: Bearer <token>` header value, or undefined for any other value. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header.trim())?.[1];
}
