import type { EntityManager } from '@nexusflow/kit';
import { Execution } from '../entities/execution.entity.ts';
import type { ExecutionEventPayload } from './events.ts';

/** What live subscribers receive: an execution event as the relay fans it out, or a snapshot. */
export type LiveUpdate = ExecutionEventPayload & { type: string; occurredAt: string };

/** The event of an update that is the execution's whole current state rather than one change. */
export const SNAPSHOT_EVENT = 'workflow.execution.snapshot';

/** Most snapshots one subscription of a workflow's executions gets after a gap: the executions changed last. */
export const MAX_SNAPSHOTS_AFTER_GAP = 100;

export function snapshotOf(execution: Execution): LiveUpdate {
  return {
    type: SNAPSHOT_EVENT,
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

/**
 * The executions of a workflow that changed since `since`, oldest change first: at most `limit`, the latest.
 * Read from a fresh context, as a long-lived subscription's identity map would serve stale rows.
 */
export async function executionsChangedSince(
  em: EntityManager,
  query: { workflowId: string; since: Date; limit: number },
): Promise<Execution[]> {
  const latest = await em
    .fork()
    .find(
      Execution,
      { workflowId: query.workflowId, updatedAt: { $gte: query.since } },
      { orderBy: { updatedAt: 'desc', id: 'desc' }, limit: query.limit },
    );
  return latest.reverse();
}

/**
 * What one subscription to a workflow's executions sent of each execution (the latest `limit` executions), so that it
 * drops stale updates and, after a gap, sends a snapshot only of executions that started or ended unseen.
 */
export class LifecycleSent {
  private readonly byExecution = new Map<string, { revision: number; status: string }>();

  /** @param limit Executions remembered; one forgotten is treated as never seen. @default 1000 */
  constructor(private readonly limit = 1000) {}

  isNewer(update: LiveUpdate): boolean {
    const last = this.byExecution.get(update.executionId);
    return !last || update.revision > last.revision;
  }

  record(update: LiveUpdate): LiveUpdate {
    this.byExecution.delete(update.executionId);
    this.byExecution.set(update.executionId, { revision: update.revision, status: update.status });
    if (this.byExecution.size > this.limit) this.byExecution.delete(this.byExecution.keys().next().value!);
    return update;
  }

  /** Whether the subscriber missed `execution` starting or ending in a gap that began at `since`. */
  missedIn(execution: Execution, since: Date): boolean {
    const last = this.byExecution.get(execution.id);
    if (last) return execution.revision > last.revision && execution.status !== last.status;
    return (
      (execution.startedAt ?? execution.createdAt) >= since ||
      (execution.finishedAt !== null && execution.finishedAt !== undefined && execution.finishedAt >= since)
    );
  }
}
