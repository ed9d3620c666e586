import { isUuid } from '@nexusflow/kit';
import type { NotificationResolvers } from '../__generated__/resolvers-types.ts';

export const Notification: NotificationResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.notificationById.load(id) : null),
  read: (notification) => notification.readAt !== null && notification.readAt !== undefined,
  deliveries: (notification, _args, { loaders }) => loaders.deliveriesByNotificationId.load(notification.id),
};
