import { forbidden, requireRole, requireUuid, systemFork, WRITER_ROLES } from '@nexusflow/kit';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  markNotificationRead: (_parent, { id }, { em, identity, services }) => services.inbox.markRead(em, identity, requireUuid(id, 'id')),
  markAllNotificationsRead: async (_parent, _args, { em, identity, services }) => ({
    count: await services.inbox.markAllRead(em, identity),
  }),
  setNotificationPreference: (_parent, { eventType, channels }, { em, identity, services }) =>
    services.inbox.setPreference(em, identity, eventType, channels),
  setContactPoints: (_parent, { input }, { em, identity, services }) => services.inbox.setContact(em, identity, input),
  setNotificationTemplate: (_parent, { input }, { em, identity, services }) => services.inbox.setTemplate(em, identity, input),
  sendNotification: (_parent, { input }, { em, identity, services }) =>
    services.notifications.send(em, {
      sender: requireRole(identity, WRITER_ROLES),
      userId: input.userId,
      eventType: input.eventType,
      variables: input.variables,
      idempotencyKey: input.idempotencyKey,
    }),
  // Not in the API, so the gateway refuses it; a request it forwards also carries the client's address, which no call
  // between services does. The email belongs to no tenant.
  deliverTransactionalEmail: (_parent, { input }, { em, services, clientAddress }) => {
    if (clientAddress !== undefined) throw forbidden('For services only');
    return services.notifications.sendTransactionalEmail(systemFork(em), input);
  },
};
