import type { ExecutionUpdateResolvers } from '../__generated__/resolvers-types.ts';

export const ExecutionUpdate: ExecutionUpdateResolvers = {
  event: (update) => update.type,
  occurredAt: (update) => new Date(update.occurredAt),
  stepKey: (update) => update.stepKey ?? null,
  attempt: (update) => update.attempt ?? null,
  error: (update) => update.error ?? null,
  execution: async (update, _args, { em, services }) => {
    const execution = await services.executions.findCurrent(em, update.tenantId, update.executionId);
    if (!execution) throw new Error(`Execution ${update.executionId} disappeared`);
    return execution;
  },
};
