import { requireUser } from '@nexusflow/kit';
import type { ExecutionUpdateResolvers } from '../__generated__/resolvers-types.ts';

export const ExecutionUpdate: ExecutionUpdateResolvers = {
  event: (update) => update.type,
  occurredAt: (update) => new Date(update.occurredAt),
  stepKey: (update) => update.stepKey ?? null,
  attempt: (update) => update.attempt ?? null,
  error: (update) => update.error ?? null,
  waitingUntil: (update) => (update.waitingUntil ? new Date(update.waitingUntil) : null),
  execution: async (update, _args, { em, identity, loaders, services }) => {
    // Every subscriber of the tenant resolving this update shares one read of the execution.
    const execution = await services.liveReads.read(em, requireUser(identity).tenantId, update.executionId, update.revision);
    if (!execution) throw new Error(`Execution ${update.executionId} disappeared`);
    // A subscription's loaders live as long as it does: step runs read for an earlier update are stale by now.
    loaders.stepRunsByExecutionId.clear(execution.id);
    return execution;
  },
};
