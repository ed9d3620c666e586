import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  contents: (_parent, { first }, { em, services }) => services.contents.list(em, first ?? 20),
  content: (_parent, { id }, { loaders }) => loaders.contentById.load(requireUuid(id, 'id')),
};
