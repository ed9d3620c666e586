import { END, many, MissedEvents, notFound, requireUser, requireUuid, SKIP, transformIterator } from '@nexusflow/kit';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { liveTopics, WorkflowEvent } from '../domain/events.ts';
import { executionsChangedSince, LifecycleSent, MAX_SNAPSHOTS_AFTER_GAP, snapshotOf, type LiveUpdate } from '../domain/live-updates.ts';

export type { LiveUpdate } from '../domain/live-updates.ts';

const LIFECYCLE = new Set([
  'workflow.execution.started',
  'workflow.execution.completed',
  'workflow.execution.failed',
  'workflow.execution.cancelled',
]);

export const Subscription: SubscriptionResolvers = {
  executionUpdated: {
    subscribe: async (_parent, { id }, context) => {
      const user = requireUser(context.identity);
      requireUuid(id, 'id');
      const { live, executions } = context.services;
      const topic = liveTopics.execution(id);
      // Listen first, then read once Redis confirmed it: a change after the read arrives as an update. While Redis is
      // out of reach the read goes ahead; the stream gets a snapshot once it is back.
      const updates = live.subscribe<LiveUpdate>(topic, { reportMissed: true });
      await live.subscribed(topic).catch(() => undefined);
      const execution = await executions.findCurrent(context.em, id);
      if (!execution) {
        await updates.return?.();
        throw notFound(`No execution ${id}`);
      }
      // The snapshot first, then only what is newer than what the subscriber has (ones it already includes are dropped).
      let revision = execution.revision;
      const newer = (update: LiveUpdate) => {
        if (update.revision <= revision) return SKIP;
        revision = update.revision;
        return update;
      };
      return transformIterator(
        updates,
        async (update) => {
          if (!(update instanceof MissedEvents)) return update.tenantId === user.tenantId ? newer(update) : SKIP;
          // Changes may have been lost while the fan-out was out of reach: the execution as it is now covers them.
          const current = await executions.findCurrent(context.em, id);
          return current ? newer(snapshotOf(current)) : SKIP;
        },
        { first: [snapshotOf(execution)] },
      );
    },
    resolve: (update: LiveUpdate) => update,
  },
  workflowExecutions: {
    subscribe: async (_parent, { workflowId }, context) => {
      const user = requireUser(context.identity);
      const workflow = await context.loaders.workflowById.load(requireUuid(workflowId, 'workflowId'));
      if (!workflow || workflow.deletedAt) throw notFound(`No workflow ${workflowId}`);
      const sent = new LifecycleSent();
      const updates = context.services.live.subscribe<LiveUpdate>(liveTopics.workflowExecutions(workflowId), { reportMissed: true });
      return transformIterator(updates, async (update) => {
        if (update instanceof MissedEvents) {
          // Starts and ends may have been lost while the fan-out was out of reach: a snapshot of each execution that had one.
          const changed = await executionsChangedSince(context.em, { workflowId, since: update.since, limit: MAX_SNAPSHOTS_AFTER_GAP });
          return many(
            changed.filter((execution) => sent.missedIn(execution, update.since)).map((execution) => sent.record(snapshotOf(execution))),
          );
        }
        // Only the subscriber's tenant's updates leave the subgraph, whatever the topic carries.
        if (update.tenantId !== user.tenantId) return SKIP;
        if (update.type === (WorkflowEvent.Deleted as string)) return END;
        if (!LIFECYCLE.has(update.type) || !sent.isNewer(update)) return SKIP;
        return sent.record(update);
      });
    },
    resolve: (update: LiveUpdate) => update,
  },
};
