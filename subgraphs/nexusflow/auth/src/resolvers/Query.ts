import { requireUuid, systemFork } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  me: (_parent, _args, { identity, loaders }) => (identity.kind === 'user' ? loaders.userById.load(identity.userId) : null),
  // The loaders' unit of work is scoped to the caller's tenant: a user of another tenant is not found.
  user: (_parent, { id }, { loaders }) => loaders.userById.load(requireUuid(id, 'id')),
  apiKeys: (_parent, _args, { em, identity, services }) => services.apiKeys.list(em, identity),
  mySessions: (_parent, _args, { em, identity, services }) => services.sessions.list(em, identity),
  // The gateway asks about a token's session before the request has a tenant; not in the API, and only signed calls reach it.
  sessionRevoked: (_parent, { id }, { em, services }) => services.sessions.isRevoked(systemFork(em), id),
};
