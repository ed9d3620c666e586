import { createHash, randomBytes } from 'node:crypto';
import {
  callSubgraph,
  clientError,
  ErrorCode,
  forbidden,
  hasRole,
  requireRole,
  requireUser,
  requireUuid,
  Role,
  SubgraphRequestError,
  systemFork,
  type EntityManager,
  type Forkable,
  type Identity,
  type Logger,
} from '@nexusflow/kit';
import { z } from 'zod';
import { RevokeSessionTokensDocument } from '../__generated__/token-mgr-operations.ts';
import { Session } from '../entities/session.entity.ts';
import type { ExpiringStore } from './live-sessions.ts';

const MAX_LISTED = 100;
const MAX_USER_AGENT_LENGTH = 256;
/** Spent refresh tokens are remembered this long past their session's end, to tell a replay from a stranger. */
const GRACE_MS = 3_600_000;
/**
 * How long after a rotation auth-service may still have it undone, when the refresh failed after it: longer than its
 * dependencies' timeouts, short enough that a token taken since is not given a second life.
 */
const REINSTATE_WINDOW_MS = 60_000;

export type RefreshTokenRejection = 'UNKNOWN' | 'EXPIRED' | 'REVOKED' | 'REUSED';

export interface CreatedSession {
  session: Session;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
}

export type RotateResult =
  | ({ __typename: 'RotatedRefreshToken'; tenantId: string; roles: Role[] } & CreatedSession)
  | { __typename: 'RejectedRefreshToken'; reason: RefreshTokenRejection };

/** What the store holds of a live session: its current refresh token and its deadlines (ms since the epoch). */
interface LiveSession {
  tenantId: string;
  refreshHash: string;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
}

/** A refresh token no longer current: exchanged (its reuse is a replay) or of a revoked session. */
interface SpentToken {
  sessionId: string;
  tenantId: string;
  spentBy: 'ROTATED' | 'REVOKED';
  /** Of a rotated token: the token it was exchanged for, and when (ms since the epoch). */
  successorHash?: string;
  rotatedAt?: number;
}

const createInputSchema = z.object({
  userAgent: z.string().max(4096).nullish(),
  clientAddress: z.string().max(255).nullish(),
});

const hashOf = (refreshToken: string) => createHash('sha256').update(refreshToken).digest('base64url');
const rejected = (reason: RefreshTokenRejection): RotateResult => ({ __typename: 'RejectedRefreshToken', reason });

export interface SessionLifecycleOptions {
  store: ExpiringStore;
  idleMs: number;
  absoluteMs: number;
  tokenMgrUrl: string;
  internalSecret: string;
  logger: Logger;
  clock: () => number;
}

/**
 * Sessions from sign-in to their end. A refresh token is used once: exchanging it gives the next one (rotation), and
 * presenting a spent one again revokes the whole session, as Auth0's refresh token rotation does, since either the
 * user or a thief holds a copy. A session ends at its idle timeout (no refresh for that long), at its absolute timeout,
 * or when revoked; ending it has token-mgr refuse its access tokens at once.
 */
export class SessionLifecycle {
  constructor(private readonly options: SessionLifecycleOptions) {}

  /** For the calling user (auth-service calls it with the identity it just verified). */
  async create(em: EntityManager, identity: Identity, input: unknown): Promise<CreatedSession> {
    const user = requireUser(identity);
    const parsed = createInputSchema.safeParse(input ?? {});
    const details = parsed.success ? parsed.data : {};
    const now = this.options.clock();
    const absoluteExpiresAt = now + this.options.absoluteMs;
    const idleExpiresAt = Math.min(now + this.options.idleMs, absoluteExpiresAt);
    const session = em.create(Session, {
      tenantId: user.tenantId,
      userId: user.userId,
      roles: user.roles,
      userAgent: details.userAgent?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
      clientAddress: details.clientAddress ?? null,
      lastRefreshedAt: new Date(now),
      idleExpiresAt: new Date(idleExpiresAt),
      absoluteExpiresAt: new Date(absoluteExpiresAt),
    });
    await em.flush();
    const refreshToken = await this.issueRefreshToken(session, { tenantId: user.tenantId, idleExpiresAt, absoluteExpiresAt });
    return { session, refreshToken, refreshTokenExpiresAt: new Date(idleExpiresAt) };
  }

  /** Whoever holds the refresh token: the token alone says which session it is of. */
  async rotate(from: Forkable, refreshToken: string): Promise<RotateResult> {
    const { store } = this.options;
    const hash = hashOf(refreshToken);
    // Taken and marked spent in one step: a second presentation racing this one finds it spent, a replay.
    const taken = this.parse<SpentToken>(await store.move(`refresh:${hash}`, `spent:${hash}`));
    if (!taken) return this.rejectSpent(from, hash);
    const { sessionId } = taken;
    const em = systemFork(from);
    const live = this.parse<LiveSession>(await store.get(`session:${sessionId}`));
    const session = await em.findOne(Session, { id: sessionId });
    const now = this.options.clock();
    if (!live || !session || live.refreshHash !== hash) return rejected('UNKNOWN');
    const ended = session.revokedAt ? 'REVOKED' : live.idleExpiresAt <= now || live.absoluteExpiresAt <= now ? 'EXPIRED' : undefined;
    await this.spend(hash, { sessionId, tenantId: live.tenantId, spentBy: ended ? 'REVOKED' : 'ROTATED' }, live.absoluteExpiresAt);
    if (ended) return rejected(ended);
    const idleExpiresAt = Math.min(now + this.options.idleMs, live.absoluteExpiresAt);
    session.lastRefreshedAt = new Date(now);
    session.idleExpiresAt = new Date(idleExpiresAt);
    await em.flush();
    const next = await this.issueRefreshToken(session, {
      tenantId: live.tenantId,
      idleExpiresAt,
      absoluteExpiresAt: live.absoluteExpiresAt,
    });
    const rotated: SpentToken = { sessionId, tenantId: live.tenantId, spentBy: 'ROTATED', successorHash: hashOf(next), rotatedAt: now };
    await this.spend(hash, rotated, live.absoluteExpiresAt);
    return {
      __typename: 'RotatedRefreshToken',
      session,
      tenantId: session.tenantId,
      roles: session.roles as Role[],
      refreshToken: next,
      refreshTokenExpiresAt: new Date(idleExpiresAt),
    };
  }

  /**
   * Undoes a rotation whose new token reached nobody: auth-service rotated, then could not finish the refresh (a
   * dependency down, a timeout), and its client, told to try again, still holds only the token it presented. Made
   * current again, that token is exchanged normally on the retry, where presenting a spent token would revoke the
   * session. Only for the rotation that issued `issuedRefreshToken` (what auth-service got back, so that a failed
   * request cannot undo another's rotation), within a minute of it, and only while that token is unused: it is
   * withdrawn in one step, so of this and a presentation of it, one wins.
   */
  async reinstate(refreshToken: string, issuedRefreshToken: string): Promise<boolean> {
    const { store } = this.options;
    const hash = hashOf(refreshToken);
    const spent = this.parse<SpentToken>(await store.get(`spent:${hash}`));
    if (spent?.spentBy !== 'ROTATED' || spent.successorHash !== hashOf(issuedRefreshToken) || spent.rotatedAt === undefined) return false;
    if (this.options.clock() - spent.rotatedAt > REINSTATE_WINDOW_MS) return false;
    const live = this.parse<LiveSession>(await store.get(`session:${spent.sessionId}`));
    if (!live || live.refreshHash !== spent.successorHash) return false;
    const withdrawn = await store.take(`refresh:${spent.successorHash}`);
    if (!withdrawn) return false;
    const ttlMs = live.absoluteExpiresAt - this.options.clock() + GRACE_MS;
    await store.put(`session:${spent.sessionId}`, JSON.stringify({ ...live, refreshHash: hash } satisfies LiveSession), ttlMs);
    // Its spent record goes before it is current again: a rotation in between must not find both.
    await store.delete(`spent:${hash}`);
    const current: SpentToken = { sessionId: spent.sessionId, tenantId: spent.tenantId, spentBy: 'ROTATED' };
    await store.put(`refresh:${hash}`, JSON.stringify(current), ttlMs);
    return true;
  }

  /** The caller's live sessions, newest first. */
  async mine(em: EntityManager, identity: Identity): Promise<Session[]> {
    const user = requireUser(identity);
    const now = new Date(this.options.clock());
    return em.find(
      Session,
      { userId: user.userId, revokedAt: null, idleExpiresAt: { $gt: now }, absoluteExpiresAt: { $gt: now } },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: MAX_LISTED },
    );
  }

  /**
   * One of the caller's sessions, or for an OWNER or ADMIN one of their organisation's (an OWNER's for an OWNER only). Revoking twice is harmless.
   * A VIEWER may end their own sessions: that signs them out, and changes none of the organisation's data.
   */
  async revokeOne(em: EntityManager, identity: Identity, id: string): Promise<Session | { __typename: 'SessionNotFound'; id: string }> {
    const caller = requireUser(identity);
    requireUuid(id, 'id');
    const session = await em.findOne(Session, { id });
    if (!session || (session.userId !== caller.userId && !this.mayEndSessionsOf(caller, [session]))) {
      return { __typename: 'SessionNotFound', id };
    }
    await this.end(em, [session], 'REVOKED', caller);
    return session;
  }

  /** Every live session of the caller, or of `userId` of their organisation for an OWNER or ADMIN (not an OWNER's, for an ADMIN). */
  async revokeAll(em: EntityManager, identity: Identity, userId: string | null | undefined): Promise<{ count: number }> {
    const caller = requireUser(identity);
    const target = userId ? requireUuid(userId, 'userId') : caller.userId;
    if (target !== caller.userId) requireRole(identity, [Role.Owner, Role.Admin]);
    const now = new Date(this.options.clock());
    const sessions = await em.find(Session, { userId: target, revokedAt: null, absoluteExpiresAt: { $gt: now } });
    if (target !== caller.userId && !this.mayEndSessionsOf(caller, sessions)) {
      throw forbidden("Only an OWNER ends an OWNER's sessions");
    }
    await this.end(em, sessions, 'REVOKED', caller);
    return { count: sessions.length };
  }

  /** An OWNER ends anyone's sessions of the organisation; an ADMIN anyone's but an OWNER's. */
  private mayEndSessionsOf(caller: Extract<Identity, { kind: 'user' }>, sessions: Session[]): boolean {
    if (hasRole(caller, Role.Owner)) return true;
    return hasRole(caller, Role.Admin) && !sessions.some((session) => session.roles.includes(Role.Owner));
  }

  /**
   * Marks the sessions revoked, forgets their refresh tokens, and has token-mgr refuse their access tokens. When
   * token-mgr cannot be reached the sessions stay revoked and the caller gets SERVICE_UNAVAILABLE: sending the same
   * revocation again finishes it.
   */
  private async end(em: EntityManager, sessions: Session[], reason: 'REVOKED' | 'REUSED', by: Extract<Identity, { kind: 'user' }>) {
    if (sessions.length === 0) return;
    const now = new Date(this.options.clock());
    for (const session of sessions) {
      session.revokedAt ??= now;
      session.revokedReason ??= reason;
    }
    await em.flush();
    for (const session of sessions) {
      const live = this.parse<LiveSession>(await this.options.store.take(`session:${session.id}`));
      if (!live) continue;
      await this.options.store.delete(`refresh:${live.refreshHash}`);
      await this.spend(live.refreshHash, { sessionId: session.id, tenantId: session.tenantId, spentBy: 'REVOKED' }, live.absoluteExpiresAt);
    }
    try {
      await callSubgraph({
        url: this.options.tokenMgrUrl,
        query: RevokeSessionTokensDocument,
        variables: { input: { sessionIds: sessions.map((session) => session.id) } },
        identity: by,
        // Signed by the wall clock, which token-mgr checks signatures against, not by the service's own clock.
        internalSecret: this.options.internalSecret,
      });
    } catch (error) {
      if (!(error instanceof SubgraphRequestError)) throw error;
      this.options.logger.warn(
        { code: error.code, sessions: sessions.length },
        'token-mgr could not revoke the access tokens of ended sessions',
      );
      throw clientError(ErrorCode.ServiceUnavailable, 'The session ended, but its access tokens could not be revoked yet; try again');
    }
  }

  /** A refresh token that is not current: a replay of a rotated one revokes its session. */
  private async rejectSpent(from: Forkable, hash: string): Promise<RotateResult> {
    const spent = this.parse<SpentToken>(await this.options.store.get(`spent:${hash}`));
    if (!spent) return rejected('UNKNOWN');
    if (spent.spentBy === 'REVOKED') return rejected('REVOKED');
    const em = systemFork(from);
    const session = await em.findOne(Session, { id: spent.sessionId, tenantId: spent.tenantId });
    if (session) {
      const owner: Identity = { kind: 'user', userId: session.userId, tenantId: session.tenantId, roles: session.roles as Role[] };
      this.options.logger.warn({ session: session.id }, 'a spent refresh token was presented again; revoking its session');
      await this.end(em, [session], 'REUSED', owner);
    }
    return rejected('REUSED');
  }

  private async issueRefreshToken(session: Session, deadlines: Omit<LiveSession, 'refreshHash'>): Promise<string> {
    const refreshToken = randomBytes(32).toString('base64url');
    const refreshHash = hashOf(refreshToken);
    const ttlMs = deadlines.absoluteExpiresAt - this.options.clock() + GRACE_MS;
    const live: LiveSession = { ...deadlines, refreshHash };
    await this.options.store.put(`session:${session.id}`, JSON.stringify(live), ttlMs);
    // What the token becomes once exchanged, so that taking it and marking it spent is one move.
    const spent: SpentToken = { sessionId: session.id, tenantId: deadlines.tenantId, spentBy: 'ROTATED' };
    await this.options.store.put(`refresh:${refreshHash}`, JSON.stringify(spent), ttlMs);
    return refreshToken;
  }

  private async spend(hash: string, spent: SpentToken, absoluteExpiresAt: number): Promise<void> {
    await this.options.store.put(`spent:${hash}`, JSON.stringify(spent), absoluteExpiresAt - this.options.clock() + GRACE_MS);
  }

  private parse<T>(value: string | null): T | undefined {
    return value === null ? undefined : (JSON.parse(value) as T);
  }
}
