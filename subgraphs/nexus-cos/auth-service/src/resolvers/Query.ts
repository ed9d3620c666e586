import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  loginAttempts: (_parent, { first }, { em, services }) => services.loginAttempts.list(em, first ?? 20),
  loginAttempt: (_parent, { id }, { loaders }) => loaders.loginAttemptById.load(requireUuid(id, 'id')),
};
