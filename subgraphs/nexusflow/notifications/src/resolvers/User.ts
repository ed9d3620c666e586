import { isUuid } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';

export const User: UserResolvers = {
  __resolveReference: ({ id }) => (isUuid(id) ? { id } : null),
  notifications: (user, { first, unreadOnly }, { em, identity, services }) =>
    services.inbox.list(em, identity, user.id, first ?? 20, unreadOnly ?? false),
  unreadNotificationCount: (user, _args, { em, identity, services }) => services.inbox.unreadCount(em, identity, user.id),
  notificationPreferences: (user, _args, { em, identity, services }) => services.inbox.preferences(em, identity, user.id),
};
