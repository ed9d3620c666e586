import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  me: (_parent, _args, { identity, loaders }) => (identity.kind === 'user' ? loaders.userById.load(identity.userId) : null),
  // The loaders' unit of work is scoped to the caller's tenant: a user of another tenant is not found.
  user: (_parent, { id }, { loaders }) => loaders.userById.load(requireUuid(id, 'id')),
  apiKeys: (_parent, _args, { em, identity, services }) => services.apiKeys.list(em, identity),
};
