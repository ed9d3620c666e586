import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  users: (_parent, { first }, { em, services }) => services.users.list(em, first ?? 20),
  user: (_parent, { id }, { loaders }) => loaders.userById.load(requireUuid(id, 'id')),
};
