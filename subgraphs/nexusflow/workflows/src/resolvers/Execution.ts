import { isUuid } from '@nexusflow/kit';
import type { ExecutionResolvers } from '../__generated__/resolvers-types.ts';

export const Execution: ExecutionResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.executionById.load(id) : null),
  workflow: async (execution, _args, { loaders }) => {
    const workflow = await loaders.workflowById.load(execution.workflowId);
    if (!workflow) throw new Error(`Execution ${execution.id} refers to a missing workflow`);
    return workflow;
  },
  error: (execution) => (execution.errorMessage ? { message: execution.errorMessage, stepKey: execution.errorStep } : null),
  waitingUntil: (execution) => execution.resumeAt ?? null,
  triggeredBy: (execution) => (execution.triggeredBy ? { id: execution.triggeredBy } : null),
  stepRuns: (execution, _args, { loaders }) => loaders.stepRunsByExecutionId.load(execution.id),
};
