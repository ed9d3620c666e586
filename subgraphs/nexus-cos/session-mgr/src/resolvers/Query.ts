import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  sessions: (_parent, { first }, { em, services }) => services.sessions.list(em, first ?? 20),
  session: (_parent, { id }, { loaders }) => loaders.sessionById.load(requireUuid(id, 'id')),
};
