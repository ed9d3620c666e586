import { isUuid } from '@nexusflow/kit';
import type { ContentResolvers } from '../__generated__/resolvers-types.ts';

export const Content: ContentResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.contentById.load(id) : null),
};
