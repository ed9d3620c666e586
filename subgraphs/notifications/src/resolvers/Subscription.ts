import { requireUser, SKIP, transformIterator } from '@nexusflow/kit';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { liveNotificationTopic } from '../domain/notification-service.ts';

export const Subscription: SubscriptionResolvers = {
  notificationReceived: {
    subscribe: (_parent, _args, { identity, services, loaders }) => {
      const user = requireUser(identity);
      const signals = services.live.subscribe<{ notificationId: string; tenantId: string }>(liveNotificationTopic(user.userId));
      return transformIterator(signals, async (signal) => {
        if (signal.tenantId !== user.tenantId) return SKIP;
        // Fresh from the database for each signal: the loader's cache would serve a stale row.
        loaders.notificationById.clear(signal.notificationId);
        const notification = await loaders.notificationById.load(signal.notificationId);
        return notification ? { notificationReceived: notification } : SKIP;
      });
    },
  },
};
