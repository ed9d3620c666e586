import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { hasRole, parseInput, requireUser, Role, systemFork, type EntityManager, type Forkable, type Identity } from '@nexusflow/kit';
import { topology } from '@nexusflow/topology';
import { RevokedToken } from '../entities/revoked-token.entity.ts';
import { SessionToken } from '../entities/session-token.entity.ts';
import { SIGNING_ALGORITHM, type KeyRing } from './key-ring.ts';

/** Who signs COS access tokens and who they are for: the gateway of the nexus-cos graph checks both (packages/topology). */
export const { issuer: COS_ACCESS_TOKEN_ISSUER, audience: COS_ACCESS_TOKEN_AUDIENCE } = topology['nexus-cos'].accessTokens;

export interface VerifiedAccessToken {
  jti: string;
  userId: string;
  tenantId: string;
  roles: Role[];
  keyId: string;
  expiresAt: Date;
}

export type AccessTokenRejection = 'INVALID' | 'UNKNOWN_KEY' | 'EXPIRED' | 'REVOKED';
export type AccessTokenVerification =
  ({ __typename: 'VerifiedAccessToken' } & VerifiedAccessToken) | { __typename: 'RejectedAccessToken'; reason: AccessTokenRejection };

export type RevokeAccessTokenResult =
  | { __typename: 'RevokedAccessToken'; jti: string; revokedAt: Date; expiresAt: Date }
  | { __typename: 'AccessTokenNotRevocable'; message: string };

const uuid = z.uuid();
const issueInputSchema = z.object({
  userId: uuid,
  tenantId: uuid,
  roles: z.array(z.enum(Role)).min(1, 'must name at least one role'),
  sessionId: uuid.nullish(),
});

const revokeSessionsInputSchema = z.object({ sessionIds: z.array(uuid).max(1000, 'must name at most 1000 sessions') });

const claimsSchema = z.object({
  jti: uuid,
  sub: uuid,
  tid: uuid,
  roles: z.array(z.enum(Role)),
  exp: z.number(),
});

const rejected = (reason: AccessTokenRejection): AccessTokenVerification => ({ __typename: 'RejectedAccessToken', reason });

/**
 * Issues, verifies and revokes COS access tokens: JWTs signed with the key ring's active key, carrying the key id in
 * their header, and checked against the revocation list by `jti`.
 */
export class AccessTokens {
  constructor(
    private readonly keys: KeyRing,
    private readonly ttlSeconds: number,
    private readonly now: () => Date,
  ) {}

  async issue(em: EntityManager, input: unknown): Promise<{ token: string; jti: string; expiresAt: Date }> {
    const { userId, tenantId, roles, sessionId } = parseInput(issueInputSchema, input, ['input']);
    const now = this.now();
    const key = await this.keys.activeKey(em, now);
    const issuedAt = Math.floor(now.getTime() / 1000);
    const expiresAt = issuedAt + this.ttlSeconds;
    const jti = randomUUID();
    const token = await new SignJWT({ tid: tenantId, roles, ...(sessionId ? { sid: sessionId } : {}) })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.id, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(COS_ACCESS_TOKEN_ISSUER)
      .setAudience(COS_ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(jti)
      .sign(key.privateKey);
    if (sessionId) {
      // Across tenants: the caller signing a user in may not act in that user's tenant yet.
      const system = systemFork(em);
      system.create(SessionToken, { id: jti, tenantId, sessionId, userId, expiresAt: new Date(expiresAt * 1000) });
      await system.flush();
    }
    return { token, jti, expiresAt: new Date(expiresAt * 1000) };
  }

  async verify(em: EntityManager, token: string): Promise<AccessTokenVerification> {
    const now = this.now();
    let keyId: string | undefined;
    try {
      keyId = decodeProtectedHeader(token).kid;
    } catch {
      return rejected('INVALID');
    }
    if (!keyId || !uuid.safeParse(keyId).success) return rejected('INVALID');
    const publicKey = await this.keys.publicKey(em, keyId, now);
    if (!publicKey) return rejected('UNKNOWN_KEY');
    let claims: z.output<typeof claimsSchema>;
    try {
      const { payload } = await jwtVerify(token, publicKey, {
        issuer: COS_ACCESS_TOKEN_ISSUER,
        audience: COS_ACCESS_TOKEN_AUDIENCE,
        algorithms: [SIGNING_ALGORITHM],
        currentDate: now,
        requiredClaims: ['exp', 'sub', 'jti'],
      });
      const parsed = claimsSchema.safeParse(payload);
      if (!parsed.success) return rejected('INVALID');
      claims = parsed.data;
    } catch (error) {
      return rejected(error instanceof errors.JWTExpired ? 'EXPIRED' : 'INVALID');
    }
    if (await this.isRevoked(em, claims.jti)) return rejected('REVOKED');
    return {
      __typename: 'VerifiedAccessToken',
      jti: claims.jti,
      userId: claims.sub,
      tenantId: claims.tid,
      roles: claims.roles,
      keyId,
      expiresAt: new Date(claims.exp * 1000),
    };
  }

  /** The caller's own token, or for an OWNER or ADMIN any token of the caller's tenant. */
  async revoke(em: EntityManager, identity: Identity, token: string): Promise<RevokeAccessTokenResult> {
    const user = requireUser(identity);
    const verification = await this.verify(em, token);
    if (verification.__typename === 'RejectedAccessToken') {
      if (verification.reason === 'REVOKED') return this.alreadyRevoked(em, token);
      return { __typename: 'AccessTokenNotRevocable', message: `The token is not one token-mgr honours (${verification.reason})` };
    }
    const mayRevoke =
      verification.tenantId === user.tenantId && (verification.userId === user.userId || hasRole(identity, Role.Owner, Role.Admin));
    if (!mayRevoke)
      return { __typename: 'AccessTokenNotRevocable', message: 'The token is neither yours nor, as an admin, of your tenant' };
    const revoked = em.create(RevokedToken, {
      id: verification.jti,
      tenantId: user.tenantId,
      revokedBy: user.userId,
      expiresAt: verification.expiresAt,
    });
    await em.flush();
    return { __typename: 'RevokedAccessToken', jti: revoked.id, revokedAt: revoked.createdAt, expiresAt: revoked.expiresAt };
  }

  private async alreadyRevoked(em: EntityManager, token: string): Promise<RevokeAccessTokenResult> {
    const jti = z.object({ jti: uuid }).safeParse(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')));
    const revoked = jti.success ? await em.findOne(RevokedToken, { id: jti.data.jti }) : null;
    if (!revoked) return { __typename: 'AccessTokenNotRevocable', message: 'The token is neither yours nor, as an admin, of your tenant' };
    return { __typename: 'RevokedAccessToken', jti: revoked.id, revokedAt: revoked.createdAt, expiresAt: revoked.expiresAt };
  }

  /**
   * Puts every access token of the sessions still alive on the revocation list: what ending a session does (internal,
   * session-mgr). Only sessions of the caller's tenant count; the others are left alone.
   */
  async revokeSessions(em: EntityManager, identity: Identity, input: unknown): Promise<{ revokedCount: number }> {
    const user = requireUser(identity);
    const { sessionIds } = parseInput(revokeSessionsInputSchema, input, ['input']);
    if (sessionIds.length === 0) return { revokedCount: 0 };
    const live = await em.find(SessionToken, { sessionId: { $in: sessionIds }, expiresAt: { $gt: this.now() } });
    const alreadyRevoked = new Set(
      (await em.find(RevokedToken, { id: { $in: live.map((token) => token.id) } }, { fields: ['id'] })).map((token) => token.id),
    );
    const revoking = live.filter((token) => !alreadyRevoked.has(token.id));
    for (const token of revoking)
      em.create(RevokedToken, { id: token.id, tenantId: user.tenantId, revokedBy: user.userId, expiresAt: token.expiresAt });
    await em.flush();
    return { revokedCount: revoking.length };
  }

  /** Across tenants: whoever holds a token may ask whether it is revoked, which says nothing of its tenant. */
  async isRevoked(from: Forkable, jti: string): Promise<boolean> {
    if (!uuid.safeParse(jti).success) return false;
    return (await systemFork(from).count(RevokedToken, { id: jti })) > 0;
  }

  /** Revocations of tokens that have expired since: verification refuses those anyway. */
  async prune(from: Forkable): Promise<void> {
    await systemFork(from).nativeDelete(RevokedToken, { expiresAt: { $lte: this.now() } });
    await systemFork(from).nativeDelete(SessionToken, { expiresAt: { $lte: this.now() } });
  }
}
