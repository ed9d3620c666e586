import { notFound, requireUser, requireUuid, SKIP, transformIterator } from '@nexusflow/kit';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { liveTopics, type ExecutionEventPayload } from '../domain/events.ts';
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
function ofTenant(updates: AsyncIterableIterator<LiveUpdate>, tenantId: string, keep: (update: LiveUpdate) => boolean = () => true) {
  return transformIterator(updates, (update) => (update.tenantId === tenantId && keep(update) ? update : SKIP));
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
    waitingUntil: execution.resumeAt ? execution.resumeAt.toISOString() : null,
    error: execution.errorMessage ?? null,
  };
}

const subscribeTo = (context: WorkflowsContext, topic: string) => context.services.live.subscribe<LiveUpdate>(topic);

export const Subscription: SubscriptionResolvers = {
  executionUpdated: {
    subscribe: async (_parent, { id }, context) => {
      const user = requireUser(context.identity);
      requireUuid(id, 'id');
      // Listen first, then read: a change between the two arrives as an update, not lost in a gap.
      const updates = subscribeTo(context, liveTopics.execution(id));
      const execution = await context.services.executions.findCurrent(context.em, user.tenantId, id);
      if (!execution) {
        await updates.return?.();
        throw notFound(`No execution ${id}`);
      }
      // The snapshot first, then only updates newer than it (ones it already includes are dropped).
      return transformIterator(updates, (update) => (update.tenantId === user.tenantId && update.revision > execution.revision ? update : SKIP), {
        first: [snapshotOf(execution)],
      });
    },
    resolve: (update: LiveUpdate) => update,
  },
  workflowExecutions: {
    subscribe: async (_parent, { workflowId }, context) => {
      const user = requireUser(context.identity);
      const workflow = await context.loaders.workflowById.load(requireUuid(workflowId, 'workflowId'));
      if (!workflow || workflow.deletedAt) throw notFound(`No workflow ${workflowId}`);
      return ofTenant(subscribeTo(context, liveTopics.workflowExecutions(workflowId)), user.tenantId, (update) => LIFECYCLE.has(update.type));
    },
    resolve: (update: LiveUpdate) => update,
  },
};
