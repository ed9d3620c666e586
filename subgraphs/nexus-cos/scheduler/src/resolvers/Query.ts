import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  scheduledTasks: (_parent, { first }, { em, services }) => services.scheduledTasks.list(em, first ?? 20),
  scheduledTask: (_parent, { id }, { loaders }) => loaders.scheduledTaskById.load(requireUuid(id, 'id')),
};
