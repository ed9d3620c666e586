import { isUuid, recordEvent, requireUser, type EntityManager, type Identity, type RevokedSessions } from '@nexusflow/kit';
import { RefreshToken } from '../entities/refresh-token.entity.ts';
import { Session } from '../entities/session.entity.ts';
import type { User } from '../entities/user.entity.ts';

/** Where a sign-in or refresh came from, as the gateway signed it; unset for calls between services. */
export interface SessionClient {
  clientAddress?: string | undefined;
  userAgent?: string | undefined;
}

export type RevokeSessionResult = Session | { __typename: 'SessionNotFound'; message: string; id: string };

/** More than anyone signs in on at once; the list stays bounded whatever a script does. */
const MAX_LISTED_SESSIONS = 100;

/**
 * A user's sign-ins. Each is a refresh-token family (its id is the family's), and every access token issued for it
 * carries its id as `sid`. Ending one revokes the family, so its refresh token stops at once, and adds it to the
 * {@link RevokedSessions} the gateway reads, so its access tokens stop within seconds instead of at their expiry.
 */
export class Sessions {
  constructor(
    private readonly revoked: RevokedSessions,
    private readonly accessTokenTtlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records a sign-in (`started`) or a refresh of session `id`; the caller's flush writes it. A refreshed family older
   * than sessions has no row yet, and gets one.
   */
  async record(
    em: EntityManager,
    user: User,
    tenantId: string,
    id: string,
    client: SessionClient,
    expiresAt: Date,
    started: boolean,
    tenantBound = false,
  ): Promise<void> {
    const now = new Date(this.now());
    const session =
      (started ? null : await em.findOne(Session, { id })) ??
      em.create(Session, {
        id,
        createdAt: now,
        tenantId,
        user,
        userAgent: null,
        clientAddress: null,
        lastSeenAt: now,
        expiresAt,
        revokedAt: null,
        tenantBound,
      });
    session.lastSeenAt = now;
    session.expiresAt = expiresAt;
    session.tenantId = tenantId;
    if (client.clientAddress !== undefined) session.clientAddress = client.clientAddress;
    if (client.userAgent !== undefined) session.userAgent = client.userAgent;
  }

  /** The caller's live sessions in the caller's tenant (the unit of work sees no other), most recently seen first. */
  async list(em: EntityManager, identity: Identity): Promise<Session[]> {
    const user = requireUser(identity);
    return em.find(
      Session,
      { user: user.userId, revokedAt: null, expiresAt: { $gt: new Date(this.now()) } },
      { orderBy: { lastSeenAt: 'desc', id: 'desc' }, limit: MAX_LISTED_SESSIONS },
    );
  }

  /** Another user's session, or another tenant's, is not found, exactly like one that never existed. */
  async revoke(em: EntityManager, identity: Identity, id: string): Promise<RevokeSessionResult> {
    const user = requireUser(identity);
    const session = isUuid(id) ? await em.findOne(Session, { id, user: user.userId }) : null;
    if (!session) return { __typename: 'SessionNotFound', message: `No session ${id}`, id };
    await this.end(em, [session]);
    return session;
  }

  /** Ends the caller's live sessions in the caller's tenant, keeping the one making the request unless `includeCurrent`. */
  async revokeAll(em: EntityManager, identity: Identity, includeCurrent: boolean): Promise<number> {
    const user = requireUser(identity);
    const sessions = (await this.list(em, identity)).filter((session) => includeCurrent || session.id !== user.sessionId);
    await this.end(em, sessions);
    return sessions.length;
  }

  /** Ends session `id` whoever it belongs to (logout, a reused refresh token): `em` is a system unit of work. */
  async endById(em: EntityManager, id: string): Promise<void> {
    const session = await em.findOne(Session, { id });
    await this.end(em, session ? [session] : [], [id]);
  }

  /**
   * Ends the live sessions of `userId` working in `tenantId`, whose access tokens carry a role there that no longer
   * holds (a member removed, demoted or gone): `em` is a system unit of work. Returns how many ended.
   */
  async endMemberSessions(em: EntityManager, userId: string, tenantId: string): Promise<number> {
    const sessions = await em.find(Session, { user: userId, tenantId, revokedAt: null });
    await this.end(em, sessions);
    return sessions.length;
  }

  /**
   * Ends every live session of `userId` in every tenant, except `keep` (the session changing its password), and every
   * refresh-token family without a session row: after a password reset or change, whoever signed in with the old
   * password is out. `em` is a system unit of work. Returns how many sessions ended.
   */
  async endAllOfUser(em: EntityManager, userId: string, keep?: string): Promise<number> {
    const sessions = (await em.find(Session, { user: userId, revokedAt: null })).filter((session) => session.id !== keep);
    await this.end(em, sessions);
    await em.nativeUpdate(
      RefreshToken,
      { user: userId, revokedAt: null, ...(keep ? { familyId: { $ne: keep } } : {}) },
      { revokedAt: new Date(this.now()) },
    );
    return sessions.length;
  }

  /** Whether access tokens of session `id` must be refused; asked by the gateway when it cannot read the set itself. */
  async isRevoked(em: EntityManager, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    if (await this.revoked.isRevoked(id)) return true;
    // The database outlives this process's memory: a revocation made before a restart still counts.
    return (await em.count(Session, { id, revokedAt: { $ne: null } })) > 0;
  }

  /**
   * Revoked first in the database (the refresh tokens stop at once), then in the set. The set is written even for a
   * session revoked before, so that asking again repairs a revocation whose publication failed.
   */
  private async end(em: EntityManager, sessions: Session[], familyIds = sessions.map((session) => session.id)): Promise<void> {
    if (familyIds.length === 0) return;
    const now = new Date(this.now());
    for (const session of sessions) {
      if (session.revokedAt) continue;
      session.revokedAt = now;
      recordEvent(
        em,
        { type: 'session.revoked', tenantId: session.tenantId, payload: { sessionId: session.id, userId: session.user.id } },
        now,
      );
    }
    await em.flush();
    await em.nativeUpdate(RefreshToken, { familyId: { $in: familyIds }, revokedAt: null }, { revokedAt: now });
    const until = now.getTime() + this.accessTokenTtlSeconds * 1000;
    await Promise.all(familyIds.map((id) => this.revoked.revoke(id, until)));
  }
}
