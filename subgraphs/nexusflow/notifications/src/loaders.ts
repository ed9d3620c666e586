import DataLoader from 'dataloader';
import { groupByKeys, loaderById, type EntityManager, type Identity } from '@nexusflow/kit';
import { Delivery } from './entities/delivery.entity.ts';
import { Notification } from './entities/notification.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (see the kit's tenant-scope.ts). */
export function createLoaders(em: EntityManager, identity: Identity) {
  return {
    /** A user's own notifications only; anonymous callers have none. */
    notificationById:
      identity.kind === 'user'
        ? loaderById(em, Notification, { userId: identity.userId })
        : new DataLoader<string, Notification | null>(async (ids) => ids.map(() => null)),
    deliveriesByNotificationId: new DataLoader<string, Delivery[]>(async (ids) =>
      groupByKeys(
        ids,
        await em.find(Delivery, { notificationId: { $in: [...ids] } }, { orderBy: { createdAt: 'asc' } }),
        // Found by notification id, so never a transactional email's, which has none.
        (d) => d.notificationId!,
      ),
    ),
  };
}

export type NotificationLoaders = ReturnType<typeof createLoaders>;
