import type { WorkflowResolvers } from '../__generated__/resolvers-types.ts';

export const Workflow: WorkflowResolvers = {
  __resolveReference: ({ id }) => ({ id }),
  schedules: (workflow, _args, { loaders }) => loaders.schedulesByWorkflowId.load(workflow.id),
};
