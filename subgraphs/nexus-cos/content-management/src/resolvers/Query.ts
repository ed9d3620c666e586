import { requireUser, requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  contents: (_parent, { first, status }, { em, services }) => services.contents.list(em, first ?? 20, status),
  content: (_parent, { id }, { loaders }) => loaders.contentById.load(requireUuid(id, 'id')),
  contentPlayability: (_parent, { contentId, region, at }, { em, identity, services }) => {
    requireUser(identity);
    return services.contents.playability(em, contentId, region, at);
  },
};
