import { entityId } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const StepRunStatus = {
  Running: 'RUNNING',
  /** The step ran and waits for its time (a delay step) until `waitingUntil`, when its timer completes it. */
  Waiting: 'WAITING',
  Completed: 'COMPLETED',
  Failed: 'FAILED',
  /**
   * Its worker stopped (died, or lost its database) before recording an outcome, and its lease ran out: the next
   * attempt took over. The step may or may not have had its effect; the attempt that took over runs it again.
   */
  Abandoned: 'ABANDONED',
} as const;
export type StepRunStatus = (typeof StepRunStatus)[keyof typeof StepRunStatus];

/**
 * One attempt at one step of an execution. The idempotency key (execution, step, attempt) is unique, so
 * a redelivered work message finds the attempt it belongs to instead of running the step again; a step run again
 * after its worker died is a new attempt, with a row of its own.
 */
export const StepRunSchema = defineEntity({
  name: 'StepRun',
  tableName: 'step_runs',
  indexes: [{ properties: ['executionId', 'startedAt'] }],
  properties: {
    ...entityId,
    executionId: p.uuid(),
    stepKey: p.string(),
    stepType: p.string(),
    attempt: p.integer(),
    idempotencyKey: p.string().unique(),
    status: p.enum(() => StepRunStatus),
    output: p.json<unknown>().nullable(),
    errorMessage: p.text().nullable(),
    /** For a step that waits: when its wait ends (kept once it ended). */
    waitingUntil: p.datetime().nullable(),
    /** A worker owns a running attempt until then; after it, another worker may take the attempt over. */
    leaseUntil: p.datetime(),
    /**
     * `<worker id>/<process id>` of the process that holds or held the attempt: a process that starts again under the
     * same worker id knows the attempts its predecessor left running, and takes them over at once.
     */
    leaseOwner: p.string().nullable(),
    startedAt: p.datetime(),
    finishedAt: p.datetime().nullable(),
  },
});

export class StepRun extends StepRunSchema.class {}
StepRunSchema.setClass(StepRun);
