import {
  pageSize,
  parseInput,
  requireRole,
  requireUser,
  requireUuid,
  systemFork,
  WRITER_ROLES,
  type Database,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { z } from 'zod';
import { normalizeAddress, signEdgeToken } from '../cdn/edge-token.ts';
import type { OriginStore } from '../cdn/origin-store.ts';
import { PlaybackSession } from '../entities/playback-session.entity.ts';
import { Rendition } from '../entities/rendition.entity.ts';
import type { ContentCatalog } from './content-catalog.ts';
import { contentFolder, DASH_MANIFEST, MASTER_PLAYLIST, writeManifests } from './manifests.ts';
import type { ViewCounts } from './view-counts.ts';

export type PlaybackRefusalReason = 'NOT_FOUND' | 'NOT_PUBLISHED' | 'OUTSIDE_RIGHTS_WINDOW' | 'REGION_NOT_LICENSED' | 'NO_RENDITIONS';

export interface PlaybackUrls {
  hls: string;
  dash: string;
  expiresAt: Date;
  boundToClientAddress: boolean;
}

/** A session as the API shows it: with signed URLs when it was just started or kept alive. */
export interface PlaybackSessionView {
  __typename: 'PlaybackSession';
  session: PlaybackSession;
  urls: PlaybackUrls | null;
}

export interface ContentNotPlayable {
  __typename: 'ContentNotPlayable';
  contentId: string;
  reason: PlaybackRefusalReason;
}

export interface ConcurrentStreamLimitReached {
  __typename: 'ConcurrentStreamLimitReached';
  limit: number;
  activeSessionIds: string[];
}

export interface PlaybackSessionEnded {
  __typename: 'PlaybackSessionEnded';
  sessionId: string;
}

export interface PlaybackSettings {
  maxConcurrentStreams: number;
  sessionTtlMs: number;
  cdn: { signingKey: string; baseUrl: string; urlTtlSeconds: number; bindClientAddress: boolean };
}

const startInputSchema = z.object({
  contentId: z.uuid('must be a UUID'),
  region: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 region code such as "DE"'),
});

const MAX_PAGE = 100;
/** Most expired sessions one sweep ends: the next sweep takes the rest. */
const SWEEP_BATCH = 500;

type User = Extract<Identity, { kind: 'user' }>;

/**
 * Playback sessions: started for a content that content-management says is playable now in the viewer's region, within
 * the viewer's concurrent-stream limit, kept alive by heartbeats, ended by the viewer or by the sweep once their
 * heartbeat is overdue. Starting and heartbeats hand out CDN URLs signed for the content's folder of the origin.
 */
export class Playback {
  constructor(
    private readonly catalog: ContentCatalog,
    private readonly origin: OriginStore,
    private readonly viewCounts: ViewCounts,
    private readonly settings: PlaybackSettings,
    private readonly now: () => Date,
  ) {}

  async start(
    em: EntityManager,
    identity: Identity,
    input: unknown,
    clientAddress: string | undefined,
  ): Promise<PlaybackSessionView | ContentNotPlayable | ConcurrentStreamLimitReached> {
    const caller = requireRole(identity, WRITER_ROLES);
    const { contentId, region } = parseInput(startInputSchema, input, ['input']);
    const now = this.now();
    const playable = await this.playableUntil(em, caller, contentId, region, now);
    if ('reason' in playable) return playable;
    const started = await em.transactional(async (tx) => {
      // One start at a time per viewer: two at once must not both take the last place.
      await tx
        .getConnection()
        .execute(
          'select pg_advisory_xact_lock(hashtextextended(?, 0))',
          [`streamcore:playback:${caller.userId}`],
          'all',
          tx.getTransactionContext(),
        );
      const live = await tx.find(
        PlaybackSession,
        { userId: caller.userId, endedAt: null, expiresAt: { $gt: now } },
        { orderBy: { createdAt: 'asc' }, fields: ['id'] },
      );
      if (live.length >= this.settings.maxConcurrentStreams) {
        return {
          __typename: 'ConcurrentStreamLimitReached' as const,
          limit: this.settings.maxConcurrentStreams,
          activeSessionIds: live.map((session) => session.id),
        };
      }
      return tx.create(PlaybackSession, {
        tenantId: caller.tenantId,
        userId: caller.userId,
        contentId,
        region,
        createdAt: now,
        lastHeartbeatAt: now,
        expiresAt: new Date(now.getTime() + this.settings.sessionTtlMs),
      });
    });
    if (!(started instanceof PlaybackSession)) return started;
    await this.viewCounts.changed(caller.tenantId, contentId);
    return this.view(started, this.sign(caller, started, playable.availableUntil, clientAddress));
  }

  /** Keeps a live session alive with fresh URLs while its content is still playable; ends it otherwise. */
  async heartbeat(
    em: EntityManager,
    identity: Identity,
    sessionId: string,
    clientAddress: string | undefined,
  ): Promise<PlaybackSessionView | PlaybackSessionEnded | ContentNotPlayable> {
    const caller = requireRole(identity, WRITER_ROLES);
    requireUuid(sessionId, 'sessionId');
    const now = this.now();
    const session = await em.findOne(PlaybackSession, { id: sessionId, userId: caller.userId });
    if (!session || session.endedAt || session.expiresAt <= now) {
      if (session && !session.endedAt) await this.end(em, session, 'EXPIRED', session.expiresAt);
      return { __typename: 'PlaybackSessionEnded', sessionId };
    }
    const playable = await this.playableUntil(em, caller, session.contentId, session.region, now);
    if ('reason' in playable) {
      await this.end(em, session, 'NOT_PLAYABLE', now);
      return playable;
    }
    session.lastHeartbeatAt = now;
    session.expiresAt = new Date(now.getTime() + this.settings.sessionTtlMs);
    await em.flush();
    return this.view(session, this.sign(caller, session, playable.availableUntil, clientAddress));
  }

  async stop(em: EntityManager, identity: Identity, sessionId: string): Promise<PlaybackSessionView | PlaybackSessionEnded> {
    const caller = requireRole(identity, WRITER_ROLES);
    requireUuid(sessionId, 'sessionId');
    const session = await em.findOne(PlaybackSession, { id: sessionId, userId: caller.userId });
    if (!session) return { __typename: 'PlaybackSessionEnded', sessionId };
    if (!session.endedAt) {
      const now = this.now();
      await this.end(em, session, session.expiresAt <= now ? 'EXPIRED' : 'STOPPED', session.expiresAt <= now ? session.expiresAt : now);
    }
    return this.view(session, null);
  }

  async list(em: EntityManager, identity: Identity, first: number, includeEnded: boolean): Promise<PlaybackSessionView[]> {
    const caller = requireUser(identity);
    const limit = pageSize(first, MAX_PAGE);
    if (limit === 0) return [];
    const sessions = await em.find(
      PlaybackSession,
      includeEnded ? { userId: caller.userId } : { userId: caller.userId, endedAt: null, expiresAt: { $gt: this.now() } },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit },
    );
    return sessions.map((session) => this.view(session, null));
  }

  /**
   * Ends the sessions whose heartbeat is overdue, as of their deadline, and tells the viewers' counts; returns how many.
   * Not a request of anyone's: it sees every tenant.
   */
  async expireOverdue(database: Database): Promise<number> {
    const em = systemFork(database);
    const overdue = await em.find(PlaybackSession, { endedAt: null, expiresAt: { $lte: this.now() } }, { limit: SWEEP_BATCH });
    for (const session of overdue) {
      session.endedAt = session.expiresAt;
      session.endReason = 'EXPIRED';
    }
    await em.flush();
    const contents = new Map(overdue.map((session) => [session.contentId, session.tenantId]));
    for (const [contentId, tenantId] of contents) await this.viewCounts.changed(tenantId, contentId);
    return overdue.length;
  }

  private view(session: PlaybackSession, urls: PlaybackUrls | null): PlaybackSessionView {
    return { __typename: 'PlaybackSession', session, urls };
  }

  private async end(em: EntityManager, session: PlaybackSession, reason: 'STOPPED' | 'EXPIRED' | 'NOT_PLAYABLE', at: Date) {
    session.endedAt = at;
    session.endReason = reason;
    await em.flush();
    await this.viewCounts.changed(session.tenantId, session.contentId);
  }

  /**
   * Whether the content may be played now in the region, with renditions to play; when it may, its manifests are
   * written to the origin (again: the renditions may have changed) and the end of its rights window is answered.
   */
  private async playableUntil(
    em: EntityManager,
    caller: User,
    contentId: string,
    region: string,
    now: Date,
  ): Promise<{ availableUntil: Date | null } | ContentNotPlayable> {
    const playability = await this.catalog.playability(caller, contentId, region, now);
    if (!playability.playable) {
      return { __typename: 'ContentNotPlayable', contentId, reason: playability.refusal ?? 'NOT_PUBLISHED' };
    }
    const renditions = await em.find(Rendition, { contentId });
    if (renditions.length === 0) return { __typename: 'ContentNotPlayable', contentId, reason: 'NO_RENDITIONS' };
    await writeManifests(this.origin, caller.tenantId, contentId, renditions);
    return { availableUntil: playability.availableUntil ? new Date(playability.availableUntil) : null };
  }

  /** URLs of the content's manifests, under one token whose ACL is the content's folder, expiring with the rights too. */
  private sign(caller: User, session: PlaybackSession, availableUntil: Date | null, clientAddress: string | undefined): PlaybackUrls {
    const { cdn } = this.settings;
    const startsAt = Math.floor(this.now().getTime() / 1000);
    const rightsEnd = availableUntil ? Math.floor(availableUntil.getTime() / 1000) : Number.POSITIVE_INFINITY;
    const expiresAt = Math.min(startsAt + cdn.urlTtlSeconds, rightsEnd);
    const folder = contentFolder(caller.tenantId, session.contentId);
    const ip = cdn.bindClientAddress && clientAddress ? normalizeAddress(clientAddress) : undefined;
    const token = encodeURIComponent(signEdgeToken({ acl: `/${folder}/*`, startsAt, expiresAt, ip, id: session.id }, cdn.signingKey));
    return {
      hls: `${cdn.baseUrl}/${token}/${folder}/${MASTER_PLAYLIST}`,
      dash: `${cdn.baseUrl}/${token}/${folder}/${DASH_MANIFEST}`,
      expiresAt: new Date(expiresAt * 1000),
      boundToClientAddress: ip !== undefined,
    };
  }
}
