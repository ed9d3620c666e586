import { isUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  workflows: (_parent, args, { em, identity, services }) => services.workflows.list(em, identity, args),
  workflow: async (_parent, { id }, { loaders }) => {
    const workflow = isUuid(id) ? await loaders.workflowById.load(id) : null;
    return workflow && !workflow.deletedAt ? workflow : null;
  },
  execution: (_parent, { id }, { loaders }) => (isUuid(id) ? loaders.executionById.load(id) : null),
  stepTypes: (_parent, _args, { services }) => services.steps.types(),
};
