import { isUuid } from '@nexusflow/kit';
import type { WorkflowResolvers } from '../__generated__/resolvers-types.ts';

export const Workflow: WorkflowResolvers = {
  __resolveReference: ({ id }) => (isUuid(id) ? { id } : null),
  schedules: (workflow, _args, { loaders }) => loaders.schedulesByWorkflowId.load(workflow.id),
};
