import DataLoader from 'dataloader';
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

  /** Live sessions of each content, in one statement however many contents. */
  async countByContent(em: EntityManager, contentIds: readonly string[]): Promise<Map<string, number>> {
    const live = await em.find(
      PlaybackSession,
      { contentId: { $in: [...contentIds] }, endedAt: null, expiresAt: { $gt: this.now() } },
      { fields: ['contentId'] },
    );
    const counts = new Map(contentIds.map((id) => [id, 0]));
    for (const session of live) counts.set(session.contentId, (counts.get(session.contentId) ?? 0) + 1);
    return counts;
  }

  private readonly loaders = new WeakMap<EntityManager, DataLoader<string, number>>();

  /** The counts of one request (its unit of work), batched: what `Content.viewCount` asks for a whole list of contents. */
  loaderFor(em: EntityManager): DataLoader<string, number> {
    let loader = this.loaders.get(em);
    if (!loader) {
      loader = new DataLoader(async (contentIds) => {
        const counts = await this.countByContent(em, contentIds);
        return contentIds.map((id) => counts.get(id) ?? 0);
      });
      this.loaders.set(em, loader);
    }
    return loader;
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
