import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  workflows: (_parent, args, { em, services }) => services.workflows.list(em, args),
  workflow: async (_parent, { id }, { loaders }) => {
    const workflow = await loaders.workflowById.load(requireUuid(id, 'id'));
    return workflow && !workflow.deletedAt ? workflow : null;
  },
  execution: (_parent, { id }, { loaders }) => loaders.executionById.load(requireUuid(id, 'id')),
  stepTypes: (_parent, _args, { services }) => services.steps.types(),
};
