import { many, MissedEvents, MISSED_EVENTS_ALLOWANCE_MS, requireUser, SKIP, transformIterator } from '@nexusflow/kit';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { liveNotificationTopic } from '../domain/notification-service.ts';
import type { Notification } from '../entities/notification.entity.ts';

/** Most notifications one subscription gets after a gap: the newest. */
const MAX_NOTIFICATIONS_AFTER_GAP = 100;

/** The ids a subscription sent, the latest `limit`: a notification told both live and after a gap is sent once. */
class SentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly limit = 1000) {}

  /** Returns whether `id` is new to the subscription, and remembers it. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value!);
    return true;
  }
}

export const Subscription: SubscriptionResolvers = {
  notificationReceived: {
    subscribe: (_parent, _args, { identity, services, loaders, em }) => {
      const user = requireUser(identity);
      const sent = new SentIds();
      // Clocks of the instances that stamp notifications differ a little from this one's.
      const subscribedSince = Date.now() - MISSED_EVENTS_ALLOWANCE_MS;
      const received = (notification: Notification) => ({ notificationReceived: notification });
      const signals = services.live.subscribe<{ notificationId: string; tenantId: string }>(liveNotificationTopic(user.userId), {
        reportMissed: true,
      });
      return transformIterator(signals, async (signal) => {
        if (signal instanceof MissedEvents) {
          // Signals may have been lost while the fan-out was out of reach: what was created meanwhile is sent now.
          const since = new Date(Math.max(signal.since.getTime(), subscribedSince));
          const missed = await services.inbox.createdSince(em, user, since, MAX_NOTIFICATIONS_AFTER_GAP);
          return many(missed.filter((notification) => sent.add(notification.id)).map(received));
        }
        if (signal.tenantId !== user.tenantId) return SKIP;
        // Fresh from the database for each signal: the loader's cache would serve a stale row.
        loaders.notificationById.clear(signal.notificationId);
        const notification = await loaders.notificationById.load(signal.notificationId);
        return notification && sent.add(notification.id) ? received(notification) : SKIP;
      });
    },
  },
};
