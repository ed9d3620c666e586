import { requireRole, requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { READER_ROLES } from '../domain/task-service.ts';

export const Query: QueryResolvers = {
  scheduledTasks: (_parent, { first }, { em, identity, services }) => services.tasks.list(em, identity, first ?? 20),
  scheduledTask: (_parent, { id }, { identity, loaders }) => {
    requireRole(identity, READER_ROLES);
    return loaders.scheduledTaskById.load(requireUuid(id, 'id'));
  },
};
