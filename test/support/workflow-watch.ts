import type { PubSub } from '@nexusflow/kit';
import { liveTopics, type ExecutionEventPayload } from '../../subgraphs/nexusflow/workflows/src/domain/events.ts';

export type ExecutionUpdate = ExecutionEventPayload & { type: string; occurredAt: string };

/**
 * Follows a workflow's executions through the live updates the workflows subgraph publishes after each
 * committed change: tests wait for what happened, never for a length of time.
 */
export class WorkflowWatch {
  readonly updates: ExecutionUpdate[] = [];
  private readonly waiters: { match: (update: ExecutionUpdate) => boolean; resolve: (update: ExecutionUpdate) => void }[] = [];
  private readonly iterator: AsyncIterableIterator<ExecutionUpdate>;
  private readonly pump: Promise<void>;

  private constructor(pubsub: PubSub, workflowId: string) {
    const iterator = pubsub.subscribe<ExecutionUpdate>(liveTopics.workflowExecutions(workflowId));
    this.iterator = iterator;
    this.pump = (async () => {
      for await (const update of iterator) {
        this.updates.push(update);
        for (const waiter of [...this.waiters]) {
          if (!waiter.match(update)) continue;
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(update);
        }
      }
    })();
  }

  static async start(pubsub: PubSub, workflowId: string): Promise<WorkflowWatch> {
    const watch = new WorkflowWatch(pubsub, workflowId);
    // Redis confirms subscriptions asynchronously; a run started before the confirmation could be missed.
    if ('subscribed' in pubsub && typeof pubsub.subscribed === 'function')
      await pubsub.subscribed(liveTopics.workflowExecutions(workflowId));
    return watch;
  }

  /** Resolves with the first update (already seen or still to come) that matches. */
  next(match: (update: ExecutionUpdate) => boolean): Promise<ExecutionUpdate> {
    const seen = this.updates.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  finished(executionId: string): Promise<ExecutionUpdate> {
    return this.next((u) => u.executionId === executionId && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(u.status));
  }

  event(executionId: string, type: string, stepKey?: string): Promise<ExecutionUpdate> {
    return this.next((u) => u.executionId === executionId && u.type === type && (stepKey === undefined || u.stepKey === stepKey));
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
    await this.pump;
  }
}
