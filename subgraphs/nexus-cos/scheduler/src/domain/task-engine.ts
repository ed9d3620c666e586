import {
  afterFailedAttempt,
  claimDue,
  DueWorkTicker,
  PeriodicTask,
  planOccurrence,
  systemFork,
  type BackoffPolicy,
  type Database,
  type Logger,
} from '@nexusflow/kit';
import { ScheduledTask, ScheduledTaskStatus } from '../entities/scheduled-task.entity.ts';
import { TaskRun, TaskRunStatus } from '../entities/task-run.entity.ts';
import type { DeliveryRequest, TaskDelivery } from './delivery.ts';
import { recurrenceOf } from './task-service.ts';

/** How long past an attempt's timeout its run stays claimed; after that an instance that died mid-attempt is retried. */
const LEASE_MARGIN_MS = 30_000;
const PRUNE_INTERVAL_MS = 3_600_000;

/** A run claimed for one attempt. */
interface ClaimedAttempt extends DeliveryRequest {
  maxAttempts: number;
}

export interface TaskEngineOptions {
  database: Database;
  delivery: TaskDelivery;
  logger: Logger;
  backoff: BackoffPolicy;
  /** An occurrence found due later than this is a misfire, handled by the task's misfire policy. */
  misfireGraceMs: number;
  /** Finished runs older than this are deleted. */
  runRetentionMs: number;
  /** Tasks fired, and runs attempted, per pass. @default 100 */
  batchSize?: number;
  now: () => Date;
}

/**
 * Runs tasks on the kit's scheduling engine, in two passes that any number of instances make at once:
 *
 * 1. Occurrences: a due task is claimed under a row lock (`skip locked`); in the same transaction its run is recorded
 *    (pending, or skipped by the misfire policy) and the task moves to its next occurrence (a one-off completes). So an
 *    occurrence has exactly one run, whichever instance claims it.
 * 2. Deliveries: a pending run whose attempt is due is claimed the same way and leased for the attempt's timeout plus
 *    a margin; the attempt is made outside the lock. A 2xx answer succeeds the run; anything else waits for the next
 *    attempt after an exponential backoff, until the run's attempts are spent and it fails. A run whose instance died
 *    mid-attempt is tried again when its lease ends: delivery is at least once, and receivers deduplicate on its id.
 */
export class TaskEngine {
  private readonly batchSize: number;
  readonly occurrences: DueWorkTicker<boolean>;
  readonly deliveries: DueWorkTicker<ClaimedAttempt>;
  private readonly pruning: PeriodicTask;

  constructor(private readonly options: TaskEngineOptions) {
    this.batchSize = options.batchSize ?? 100;
    this.occurrences = new DueWorkTicker({
      logger: options.logger,
      failureMessage: 'firing due scheduled tasks failed',
      now: options.now,
      claim: (now) => this.claimOccurrences(now),
      handle: async (fired) => fired,
    });
    this.deliveries = new DueWorkTicker({
      logger: options.logger,
      failureMessage: 'delivering scheduled task runs failed',
      now: options.now,
      claim: (now) => this.claimAttempts(now),
      handle: (request) => this.attempt(request),
    });
    this.pruning = new PeriodicTask(() => this.prune(), { logger: options.logger, failureMessage: 'pruning task runs failed' });
  }

  start(intervalMs: number): void {
    this.occurrences.start(intervalMs);
    this.deliveries.start(intervalMs);
    this.pruning.start(PRUNE_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    await Promise.all([this.occurrences.stop(), this.deliveries.stop(), this.pruning.stop()]);
  }

  /** One pass of each kind at the clock's time: how many occurrences this instance fired, and attempts it made. */
  async tick(): Promise<{ fired: number; attempted: number }> {
    const fired = await this.occurrences.tick();
    const attempted = await this.deliveries.tick();
    return { fired, attempted };
  }

  /** Deletes the runs that finished before the retention period; returns how many. */
  prune(): Promise<number> {
    const before = new Date(this.options.now().getTime() - this.options.runRetentionMs);
    return systemFork(this.options.database).nativeDelete(TaskRun, { finishedAt: { $lt: before } });
  }

  private claimOccurrences(now: Date): Promise<boolean[]> {
    return claimDue({
      database: this.options.database,
      entity: ScheduledTask,
      due: { status: ScheduledTaskStatus.Active, deletedAt: null, nextRunAt: { $lte: now } },
      orderBy: { nextRunAt: 'asc' },
      limit: this.batchSize,
      claim: (task, tx) => {
        const recurrence = recurrenceOf(task);
        const plan = planOccurrence({
          recurrence,
          dueAt: task.nextRunAt!,
          now,
          misfireGraceMs: this.options.misfireGraceMs,
          misfirePolicy: task.misfirePolicy,
        });
        const skipped = plan.action === 'skip';
        tx.create(TaskRun, {
          tenantId: task.tenantId,
          taskId: task.id,
          deliverAs: task.createdBy,
          scheduledFor: plan.dueAt,
          target: task.target,
          path: task.path,
          payload: task.payload,
          timeoutSeconds: task.timeoutSeconds,
          status: skipped ? TaskRunStatus.Skipped : TaskRunStatus.Pending,
          attempts: 0,
          maxAttempts: task.maxAttempts,
          nextAttemptAt: skipped ? null : now,
          responseCode: null,
          error: skipped ? 'missed while no scheduler was running' : null,
          durationMs: null,
          finishedAt: skipped ? now : null,
        });
        task.lastRunAt = plan.dueAt;
        task.nextRunAt = plan.next;
        if (!recurrence) task.status = ScheduledTaskStatus.Completed;
        return !skipped;
      },
    });
  }

  private claimAttempts(now: Date): Promise<ClaimedAttempt[]> {
    return claimDue({
      database: this.options.database,
      entity: TaskRun,
      due: { status: TaskRunStatus.Pending, nextAttemptAt: { $lte: now } },
      orderBy: { nextAttemptAt: 'asc' },
      limit: this.batchSize,
      claim: (run) => {
        run.attempts += 1;
        run.nextAttemptAt = new Date(now.getTime() + run.timeoutSeconds * 1000 + LEASE_MARGIN_MS);
        return {
          runId: run.id,
          taskId: run.taskId,
          tenantId: run.tenantId,
          deliverAs: run.deliverAs,
          scheduledFor: run.scheduledFor,
          target: run.target,
          path: run.path,
          payload: run.payload,
          timeoutSeconds: run.timeoutSeconds,
          attempt: run.attempts,
          maxAttempts: run.maxAttempts,
        };
      },
    });
  }

  /** Makes one attempt and records it, unless the run moved on meanwhile (cancelled, or claimed again after its lease). */
  private async attempt(request: ClaimedAttempt): Promise<boolean> {
    const outcome = await this.options.delivery.deliver(request);
    const now = this.options.now();
    const attempt = { responseCode: outcome.responseCode, error: outcome.error, durationMs: outcome.durationMs };
    let next: Partial<TaskRun>;
    if (outcome.ok) next = { ...attempt, status: TaskRunStatus.Succeeded, nextAttemptAt: null, finishedAt: now };
    else {
      const decision = afterFailedAttempt({
        attempts: request.attempt,
        maxAttempts: request.maxAttempts,
        policy: this.options.backoff,
        now,
      });
      next = decision.retry
        ? { ...attempt, nextAttemptAt: decision.at }
        : { ...attempt, status: TaskRunStatus.Failed, nextAttemptAt: null, finishedAt: now };
      this.options.logger.info(
        { runId: request.runId, taskId: request.taskId, attempt: request.attempt, error: outcome.error },
        decision.retry ? 'a scheduled task delivery failed; will retry' : 'a scheduled task run failed after its last attempt',
      );
    }
    await systemFork(this.options.database).nativeUpdate(
      TaskRun,
      { id: request.runId, attempts: request.attempt, status: TaskRunStatus.Pending },
      next,
    );
    return true;
  }
}
