import { MissedEvents, requireUser, requireUuid, SKIP, transformIterator } from '@nexusflow/kit';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { viewersTopic, type ContentViewCount, type ViewersChanged } from '../domain/view-counts.ts';

export const Subscription: SubscriptionResolvers = {
  contentViewCount: {
    /**
     * The count now, then the count again at each signal of the content's tenant, sent only when it changed. Listening
     * starts before the first count, so that a change between the two is not lost.
     */
    subscribe: async (_parent, { contentId }, { em, identity, services }) => {
      const viewer = requireUser(identity);
      requireUuid(contentId, 'contentId');
      const topic = viewersTopic(contentId);
      const signals = services.live.subscribe<ViewersChanged>(topic, { reportMissed: true });
      await services.live.subscribed(topic).catch(() => undefined);
      let viewers = await services.viewCounts.count(em, contentId);
      return transformIterator(
        signals,
        async (signal): Promise<{ contentViewCount: ContentViewCount } | typeof SKIP> => {
          if (!(signal instanceof MissedEvents) && signal.tenantId !== viewer.tenantId) return SKIP;
          const now = await services.viewCounts.count(em, contentId);
          if (now === viewers) return SKIP;
          viewers = now;
          return { contentViewCount: { contentId, viewers } };
        },
        { first: [{ contentViewCount: { contentId, viewers } }] },
      );
    },
  },
};
