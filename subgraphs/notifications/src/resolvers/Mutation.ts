import { requireRole, WRITER_ROLES } from '@nexusflow/kit';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  markNotificationRead: (_parent, { id }, { em, identity, services }) => services.inbox.markRead(em, identity, id),
  markAllNotificationsRead: async (_parent, _args, { em, identity, services }) => ({ count: await services.inbox.markAllRead(em, identity) }),
  setNotificationPreference: (_parent, { eventType, channels }, { em, identity, services }) => services.inbox.setPreference(em, identity, eventType, channels),
  setContactPoints: (_parent, { input }, { em, identity, services }) => services.inbox.setContact(em, identity, input),
  setNotificationTemplate: (_parent, { input }, { em, identity, services }) => services.inbox.setTemplate(em, identity, input),
  sendNotification: async (_parent, { input }, { em, identity, services }) => {
    // Recipients are users of the caller's tenant; the notification is stored under that tenant.
    const sender = requireRole(identity, WRITER_ROLES);
    const notification = await services.notifications.notify(em, {
      tenantId: sender.tenantId,
      userId: input.userId,
      eventType: input.eventType,
      variables: (input.variables ?? {}) as Record<string, unknown>,
    });
    return notification!;
  },
};
