import { isUuid } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';

export const User: UserResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.userById.load(id) : null),
};
