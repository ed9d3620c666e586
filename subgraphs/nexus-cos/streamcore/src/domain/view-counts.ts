import type { EntityManager, Logger, PubSub } from '@nexusflow/kit';
import { PlaybackSession } from '../entities/playback-session.entity.ts';

export interface ContentViewCount {
  contentId: string;
  viewers: number;
}

/** A content's viewers changed: a signal only (the tenant, to filter on), each subscriber counts again. */
export interface ViewersChanged {
  tenantId: string;
  contentId: string;
}

export const viewersTopic = (contentId: string): string => `streamcore.viewers.${contentId}`;

/** Live playback sessions per content, and the signal that they changed, fanned out between instances. */
export class ViewCounts {
  constructor(
    private readonly pubsub: PubSub,
    private readonly now: () => Date,
    private readonly logger: Logger,
  ) {}

  /**
   * Live sessions of each content, in one `count(*) … group by content_id` statement however many contents and
   * sessions: no session is loaded. The unit of work's tenant filter applies, as to any query.
   */
  async countByContent(em: EntityManager, contentIds: readonly string[]): Promise<Map<string, number>> {
    const counts = await em.countBy(PlaybackSession, 'contentId', {
      where: { contentId: { $in: [...contentIds] }, endedAt: null, expiresAt: { $gt: this.now() } },
    });
    return new Map(contentIds.map((id) => [id, counts[id] ?? 0]));
  }

  /** A count only, nothing loaded: a subscription counts again at each signal for as long as it lasts. */
  async count(em: EntityManager, contentId: string): Promise<number> {
    return em.count(PlaybackSession, { contentId, endedAt: null, expiresAt: { $gt: this.now() } });
  }

  /** Tells subscribers to count again; a fan-out out of reach is logged, and its subscribers recount once it is back. */
  async changed(tenantId: string, contentId: string): Promise<void> {
    const signal: ViewersChanged = { tenantId, contentId };
    await this.pubsub.publish(viewersTopic(contentId), signal).catch((error: unknown) => {
      this.logger.warn({ err: error, contentId }, 'could not announce a change of viewers');
    });
  }
}
