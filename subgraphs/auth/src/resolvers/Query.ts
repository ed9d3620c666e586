import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { visibleUser } from './visibility.ts';

export const Query: QueryResolvers = {
  me: async (_parent, _args, { identity, loaders }) =>
    identity.kind === 'user' ? visibleUser(identity, await loaders.userById.load(identity.userId)) : null,
  user: async (_parent, { id }, { identity, loaders }) => visibleUser(identity, await loaders.userById.load(requireUuid(id, 'id'))),
};
