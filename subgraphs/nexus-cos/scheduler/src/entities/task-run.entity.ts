import { entityId, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const TaskRunStatus = {
  Pending: 'PENDING',
  Succeeded: 'SUCCEEDED',
  Failed: 'FAILED',
  Skipped: 'SKIPPED',
  Cancelled: 'CANCELLED',
} as const;
export type TaskRunStatus = (typeof TaskRunStatus)[keyof typeof TaskRunStatus];

/**
 * One occurrence of a task and its delivery: at most one per task and instant, whichever instance fires it. Its id is
 * the delivery id receivers deduplicate on. What is delivered (target, path, payload) is copied from the task when the
 * occurrence fires, so every attempt sends the same request.
 */
export const TaskRunSchema = defineEntity({
  name: 'TaskRun',
  tableName: 'task_runs',
  filters: tenantFilter(),
  uniques: [{ properties: ['taskId', 'scheduledFor'] }],
  indexes: [{ properties: ['status', 'nextAttemptAt'] }],
  properties: {
    ...entityId,
    tenantId: p.uuid(),
    taskId: p.uuid(),
    /** The task's creator, whom deliveries are signed as. */
    deliverAs: p.uuid(),
    scheduledFor: p.datetime(),
    target: p.string(),
    path: p.text(),
    payload: p.json<unknown>().nullable(),
    timeoutSeconds: p.integer(),
    status: p.enum(() => TaskRunStatus),
    attempts: p.integer(),
    maxAttempts: p.integer(),
    /** While pending: when the next attempt is due, or, during an attempt, when its lease ends and it may be retried. */
    nextAttemptAt: p.datetime().nullable(),
    responseCode: p.integer().nullable(),
    error: p.text().nullable(),
    durationMs: p.integer().nullable(),
    finishedAt: p.datetime().nullable(),
  },
});

export class TaskRun extends TaskRunSchema.class {}
TaskRunSchema.setClass(TaskRun);
