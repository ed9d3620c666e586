import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  schedules: (_parent, { workflowId }, { em, services }) => services.schedules.list(em, requireUuid(workflowId, 'workflowId')),
  schedule: (_parent, { id }, { em, services }) => services.schedules.find(em, requireUuid(id, 'id')),
};
