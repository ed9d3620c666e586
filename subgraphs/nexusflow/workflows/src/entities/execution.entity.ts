import { entityBase, tenantFilter, updatedAt } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const ExecutionStatus = {
  Queued: 'QUEUED',
  Running: 'RUNNING',
  Paused: 'PAUSED',
  Completed: 'COMPLETED',
  Failed: 'FAILED',
  Cancelled: 'CANCELLED',
} as const;
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus];

export const FINISHED_STATUSES: readonly ExecutionStatus[] = [ExecutionStatus.Completed, ExecutionStatus.Failed, ExecutionStatus.Cancelled];

/** One run of one version of a workflow. Its state lives here, so any worker can carry it on. */
export const ExecutionSchema = defineEntity({
  name: 'Execution',
  tableName: 'executions',
  filters: tenantFilter(),
  uniques: [{ properties: ['workflowId', 'idempotencyKey'] }],
  indexes: [{ properties: ['workflowId', 'createdAt'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    workflowId: p.uuid(),
    workflowVersion: p.integer(),
    status: p.enum(() => ExecutionStatus),
    input: p.json<unknown>().nullable(),
    output: p.json<unknown>().nullable(),
    errorMessage: p.text().nullable(),
    errorStep: p.string().nullable(),
    /** The step to run next, or being run; null once finished. */
    currentStep: p.string().nullable(),
    /** The attempt of {@link currentStep} to run next, or being run. */
    currentAttempt: p.integer(),
    /**
     * Attempts of {@link currentStep} that its retry policy does not count: those made before the latest retryExecution
     * (so that a retried step gets its maxAttempts again) and those abandoned by a worker that stopped (a crash is not
     * the step's failure), while attempt numbers (and step-run keys) stay unique. Its column keeps its first name.
     */
    uncountedAttempts: p.integer().default(0).fieldName('attempts_before_retry'),
    /**
     * The execution's durable timer: it waits until then (a delay step, or the backoff before a retry), and the timer
     * service continues it. Set only while waiting, so the index holds waiting executions alone.
     */
    resumeAt: p.datetime().nullable().index(),
    /** Increases with every state change, so live subscribers can order and deduplicate updates. */
    revision: p.integer(),
    triggeredBy: p.uuid().nullable(),
    /** The workflow's owner when the run started: who hears about it (notifications) without a lookup. */
    ownerId: p.uuid().nullable(),
    /** Lets a caller (a scheduler tick, a webhook delivery) start a run at most once. */
    idempotencyKey: p.string().nullable(),
    /** Touched by every state change; an execution that stays RUNNING without change for too long is re-dispatched. */
    ...updatedAt,
    startedAt: p.datetime().nullable(),
    finishedAt: p.datetime().nullable(),
  },
});

export class Execution extends ExecutionSchema.class {}
ExecutionSchema.setClass(Execution);
