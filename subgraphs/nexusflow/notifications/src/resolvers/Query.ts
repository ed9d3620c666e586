import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  notifications: (_parent, { first, unreadOnly }, { em, identity, services }) =>
    identity.kind === 'user' ? services.inbox.list(em, identity, identity.userId, first ?? 20, unreadOnly ?? false) : [],
  notificationTemplates: (_parent, _args, { em, services }) => services.inbox.templates(em),
  contactPoints: (_parent, _args, { em, identity, services }) => (identity.kind === 'user' ? services.inbox.contact(em, identity) : null),
};
