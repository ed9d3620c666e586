import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  schedules: (_parent, { workflowId }, { em, identity, services }) => services.schedules.list(em, identity, requireUuid(workflowId, 'workflowId')),
  schedule: (_parent, { id }, { em, identity, services }) => services.schedules.find(em, identity, requireUuid(id, 'id')),
};
