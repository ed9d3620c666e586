import { createHmac, timingSafeEqual } from 'node:crypto';
import { forbidden, unauthenticated } from './errors.ts';

export enum Role {
  Owner = 'OWNER',
  Admin = 'ADMIN',
  Member = 'MEMBER',
  Viewer = 'VIEWER',
}

/**
 * Who is calling, as verified by the gateway. A user signed in with a password carries the `sessionId` of the sign-in
 * its access token belongs to (see the auth subgraph's sessions); API keys have none, and say so with `via: 'api-key'`
 * (absent for a person, so that identities signed before it existed read as they did).
 */
export type Identity =
  { kind: 'anonymous' } | { kind: 'user'; userId: string; tenantId: string; roles: Role[]; sessionId?: string; via?: CredentialKind };

/** How a signed-in caller proved who it is, when not as a person: a machine's API key. */
export type CredentialKind = 'api-key';

export const ANONYMOUS: Identity = Object.freeze({ kind: 'anonymous' });

export enum IdentityHeader {
  /** base64url JSON of {@link SignedIdentityClaims}. */
  Identity = 'x-nexusflow-identity',
  /** base64url HMAC-SHA256 of the identity header's value, keyed with the internal secret. */
  Signature = 'x-nexusflow-identity-signature',
}

interface SignedIdentityClaims {
  identity: Identity;
  /** Milliseconds since the epoch; bounds how long a captured header pair can be replayed. */
  issuedAt: number;
  /**
   * The address the gateway saw the request come from (after its trusted proxy hops), so that a subgraph can
   * throttle per client (failed logins, registrations) without trusting a header the client could set.
   */
  clientAddress?: string;
  /** The client's `User-Agent`, so that the auth subgraph can tell a user's sessions apart by device. */
  userAgent?: string;
}

/** Longer user agents are cut: they name a device, and the claims travel with every subgraph fetch. */
export const MAX_SIGNED_USER_AGENT_LENGTH = 256;

/** How far a signed identity's issue time may be from the subgraph's clock. */
export const IDENTITY_MAX_AGE_MS = 5 * 60_000;

function sign(value: string, secret: string): string {
  return createHmac('sha256', secret).update(value).digest('base64url');
}

export function signIdentity(
  identity: Identity,
  secret: string,
  now = Date.now(),
  clientAddress?: string,
  userAgent?: string,
): Record<IdentityHeader, string> {
  const claims: SignedIdentityClaims = { identity, issuedAt: now };
  if (clientAddress !== undefined) claims.clientAddress = clientAddress;
  if (userAgent) claims.userAgent = userAgent.slice(0, MAX_SIGNED_USER_AGENT_LENGTH);
  const value = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return { [IdentityHeader.Identity]: value, [IdentityHeader.Signature]: sign(value, secret) };
}

export type IdentityVerification =
  | { ok: true; identity: Identity; clientAddress?: string; userAgent?: string }
  | { ok: false; reason: 'missing' | 'bad-signature' | 'expired' | 'malformed' };

type HeaderLookup = (name: string) => string | undefined;

const roles = new Set<string>(Object.values(Role));

function parseIdentity(value: unknown): Identity | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = value as Record<string, unknown>;
  if (candidate.kind === 'anonymous') return ANONYMOUS;
  if (
    candidate.kind === 'user' &&
    typeof candidate.userId === 'string' &&
    typeof candidate.tenantId === 'string' &&
    Array.isArray(candidate.roles) &&
    candidate.roles.every((role) => typeof role === 'string' && roles.has(role)) &&
    (candidate.sessionId === undefined || typeof candidate.sessionId === 'string') &&
    (candidate.via === undefined || candidate.via === 'api-key')
  ) {
    const user: Identity = { kind: 'user', userId: candidate.userId, tenantId: candidate.tenantId, roles: candidate.roles as Role[] };
    if (typeof candidate.sessionId === 'string') user.sessionId = candidate.sessionId;
    if (candidate.via === 'api-key') user.via = candidate.via;
    return user;
  }
  return undefined;
}

export function verifyIdentity(header: HeaderLookup, secret: string, now = Date.now()): IdentityVerification {
  const value = header(IdentityHeader.Identity);
  const signature = header(IdentityHeader.Signature);
  if (!value || !signature) return { ok: false, reason: 'missing' };
  const expected = Buffer.from(sign(value, secret));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad-signature' };
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof claims !== 'object' || claims === null) return { ok: false, reason: 'malformed' };
  const { identity: claimedIdentity, issuedAt, clientAddress, userAgent } = claims as Partial<SignedIdentityClaims>;
  const identity = parseIdentity(claimedIdentity);
  if (!identity || typeof issuedAt !== 'number') return { ok: false, reason: 'malformed' };
  if (clientAddress !== undefined && typeof clientAddress !== 'string') return { ok: false, reason: 'malformed' };
  if (userAgent !== undefined && typeof userAgent !== 'string') return { ok: false, reason: 'malformed' };
  if (Math.abs(now - issuedAt) > IDENTITY_MAX_AGE_MS) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    identity,
    ...(clientAddress === undefined ? {} : { clientAddress }),
    ...(userAgent === undefined ? {} : { userAgent }),
  };
}

export function hasRole(identity: Identity, ...wanted: Role[]): boolean {
  return identity.kind === 'user' && identity.roles.some((role) => wanted.includes(role));
}

/** The signed-in user, or an UNAUTHENTICATED error for anonymous callers. */
export function requireUser(identity: Identity): Extract<Identity, { kind: 'user' }> {
  if (identity.kind !== 'user') throw unauthenticated();
  return identity;
}

/** Roles that may change a tenant's resources; VIEWERs only read. */
export const WRITER_ROLES = [Role.Owner, Role.Admin, Role.Member] as const;

/** Roles that may change what a whole tenant gets: its settings, templates, integrations and keys. */
export const ADMIN_ROLES = [Role.Owner, Role.Admin] as const;

/** The signed-in user if they hold one of `roles`; UNAUTHENTICATED or FORBIDDEN otherwise. */
export function requireRole(identity: Identity, roles: readonly Role[]): Extract<Identity, { kind: 'user' }> {
  const user = requireUser(identity);
  if (!user.roles.some((role) => roles.includes(role))) throw forbidden(`Requires one of the roles ${roles.join(', ')}`);
  return user;
}

/** Roles in rising order of power: each holds every scope of the ones before it. */
const SCOPES_BY_ROLE: Record<Role, readonly string[]> = {
  [Role.Viewer]: ['read'],
  [Role.Member]: ['read', 'write'],
  [Role.Admin]: ['read', 'write', 'admin'],
  [Role.Owner]: ['read', 'write', 'admin', 'owner'],
};

/**
 * The scopes `@requiresScopes` is checked against: those of the caller's roles, cumulative (a MEMBER reads and
 * writes). None for anonymous callers. An API key holds the roles of its scopes, so the same scopes come back.
 */
export function scopesOf(identity: Identity): string[] {
  if (identity.kind !== 'user') return [];
  const scopes = new Set<string>();
  for (const role of identity.roles) for (const scope of SCOPES_BY_ROLE[role]) scopes.add(scope);
  return [...scopes];
}
