import DataLoader from 'dataloader';
import { groupByKeys, orderByKeys, type EntityManager, type Identity } from '@nexusflow/kit';
import { Delivery } from './entities/delivery.entity.ts';
import { Notification } from './entities/notification.entity.ts';

export function createLoaders(em: EntityManager, identity: Identity) {
  const userId = identity.kind === 'user' ? identity.userId : '00000000-0000-0000-0000-000000000000';
  return {
    /** A user's own notifications only. */
    notificationById: new DataLoader<string, Notification | null>(async (ids) =>
      orderByKeys(ids, await em.find(Notification, { id: { $in: [...ids] }, userId }), (n) => n.id),
    ),
    deliveriesByNotificationId: new DataLoader<string, Delivery[]>(async (ids) =>
      groupByKeys(ids, await em.find(Delivery, { notificationId: { $in: [...ids] } }, { orderBy: { createdAt: 'asc' } }), (d) => d.notificationId),
    ),
  };
}

export type NotificationLoaders = ReturnType<typeof createLoaders>;
