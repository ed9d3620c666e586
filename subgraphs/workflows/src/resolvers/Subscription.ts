import { notFound, requireUser } from '@nexusflow/kit';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { liveTopics, type ExecutionEventPayload } from '../domain/events.ts';
import { isUuid } from '../domain/workflow-service.ts';
import type { WorkflowsContext } from '../context.ts';
import type { Execution } from '../entities/execution.entity.ts';

export type LiveUpdate = ExecutionEventPayload & { type: string; occurredAt: string };

const LIFECYCLE = new Set([
  'workflow.execution.started',
  'workflow.execution.completed',
  'workflow.execution.failed',
  'workflow.execution.cancelled',
]);

/** Only the subscriber's tenant's updates leave the subgraph, whatever the topic carries. */
async function* ofTenant(updates: AsyncIterableIterator<LiveUpdate>, tenantId: string, keep: (update: LiveUpdate) => boolean = () => true) {
  try {
    for await (const update of updates) if (update.tenantId === tenantId && keep(update)) yield update;
  } finally {
    await updates.return?.();
  }
}

/** The first message: the execution as it is, so a subscriber never has to query and subscribe at once. */
function snapshotOf(execution: Execution): LiveUpdate {
  return {
    type: 'workflow.execution.snapshot',
    occurredAt: new Date().toISOString(),
    executionId: execution.id,
    workflowId: execution.workflowId,
    workflowVersion: execution.workflowVersion,
    tenantId: execution.tenantId,
    status: execution.status,
    revision: execution.revision,
    currentStep: execution.currentStep ?? null,
    error: execution.errorMessage ?? null,
  };
}

/** The snapshot, then the updates newer than it (ones it already includes are dropped). */
async function* startingWith(snapshot: LiveUpdate, updates: AsyncGenerator<LiveUpdate>) {
  yield snapshot;
  try {
    for await (const update of updates) if (update.revision > snapshot.revision) yield update;
  } finally {
    await updates.return(undefined);
  }
}

const subscribeTo = (context: WorkflowsContext, topic: string) => context.services.live.subscribe<LiveUpdate>(topic);

export const Subscription: SubscriptionResolvers = {
  executionUpdated: {
    subscribe: async (_parent, { id }, context) => {
      const user = requireUser(context.identity);
      if (!isUuid(id)) throw notFound(`No execution ${id}`);
      // Listen first, then read: a change between the two arrives as an update, not lost in a gap.
      const updates = ofTenant(subscribeTo(context, liveTopics.execution(id)), user.tenantId);
      const execution = await context.services.executions.findCurrent(context.em, user.tenantId, id);
      if (!execution) {
        await updates.return(undefined);
        throw notFound(`No execution ${id}`);
      }
      return startingWith(snapshotOf(execution), updates);
    },
    resolve: (update: LiveUpdate) => update,
  },
  workflowExecutions: {
    subscribe: async (_parent, { workflowId }, context) => {
      const user = requireUser(context.identity);
      const workflow = isUuid(workflowId) ? await context.loaders.workflowById.load(workflowId) : null;
      if (!workflow || workflow.deletedAt) throw notFound(`No workflow ${workflowId}`);
      return ofTenant(subscribeTo(context, liveTopics.workflowExecutions(workflowId)), user.tenantId, (update) => LIFECYCLE.has(update.type));
    },
    resolve: (update: LiveUpdate) => update,
  },
};
