import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { PeriodicTask, Role, systemFork, type Database, type Logger } from '@nexusflow/kit';
import { MisfirePolicy, Schedule, ScheduleStatus } from '../entities/schedule.entity.ts';
import { ScheduleRun, ScheduleRunOutcome } from '../entities/schedule-run.entity.ts';
import { nextOccurrence } from '@nexusflow/kit';
import { recurrenceOf } from './schedule-service.ts';
import type { WorkflowsClient } from './workflows-client.ts';

export interface TickerOptions {
  database: Database;
  workflows: WorkflowsClient;
  logger: Logger;
  /** A tick later than this is a misfire, handled by the schedule's misfire policy. @default 60000 */
  misfireGraceMs?: number;
  /** Schedules fired per pass. @default 100 */
  batchSize?: number;
  now?: () => Date;
}

/**
 * Fires due schedules. Any number of scheduler instances may tick at once: an instance fires a tick
 * only if it is the one that moves the schedule's `nextRunAt` forward (a compare-and-set in PostgreSQL),
 * and the run it starts carries an idempotency key for that tick, so a tick starts exactly one run.
 */
export class ScheduleTicker {
  private readonly now: () => Date;
  private readonly misfireGraceMs: number;
  private readonly batchSize: number;
  private readonly ticking: PeriodicTask;

  constructor(private readonly options: TickerOptions) {
    this.now = options.now ?? (() => new Date());
    this.misfireGraceMs = options.misfireGraceMs ?? 60_000;
    this.batchSize = options.batchSize ?? 100;
    this.ticking = new PeriodicTask(() => this.tick(), { logger: options.logger, failureMessage: 'scheduler tick failed' });
  }

  start(intervalMs: number): void {
    this.ticking.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.ticking.stop();
  }

  /** Fires every schedule due now; returns how many ticks this instance fired. */
  async tick(): Promise<number> {
    const now = this.now();
    const due = await systemFork(this.options.database).find(
      Schedule,
      { status: ScheduleStatus.Active, deletedAt: null, nextRunAt: { $lte: now } },
      { orderBy: { nextRunAt: 'asc' }, limit: this.batchSize },
    );
    let fired = 0;
    for (const schedule of due) if (await this.fire(schedule, now)) fired += 1;
    return fired;
  }

  private async fire(schedule: Schedule, now: Date): Promise<boolean> {
    const em = systemFork(this.options.database);
    const dueAt = schedule.nextRunAt!;
    const next = nextOccurrence(recurrenceOf(schedule), now);
    const claimed = await em.nativeUpdate(
      Schedule,
      { id: schedule.id, nextRunAt: dueAt, status: ScheduleStatus.Active, deletedAt: null },
      { nextRunAt: next, lastRunAt: dueAt },
    );
    if (claimed === 0) return false;

    const missed = now.getTime() - dueAt.getTime() > this.misfireGraceMs;
    if (missed && schedule.misfirePolicy === MisfirePolicy.Skip) {
      await this.record(em, schedule, dueAt, now, {
        outcome: ScheduleRunOutcome.Skipped,
        executionId: null,
        error: 'missed while no scheduler was running',
      });
      return true;
    }
    const identity = { kind: 'user' as const, userId: schedule.createdBy, tenantId: schedule.tenantId, roles: [Role.Member] };
    const outcome = await this.options.workflows.run(
      identity,
      schedule.workflowId,
      schedule.input,
      `schedule:${schedule.id}:${dueAt.toISOString()}`,
    );
    if (!outcome.ok && outcome.retryable) {
      // The workflows service is unreachable: put the tick back so the next pass tries it again.
      await em.nativeUpdate(Schedule, { id: schedule.id, nextRunAt: next }, { nextRunAt: dueAt });
      this.options.logger.warn({ scheduleId: schedule.id, error: outcome.message }, 'could not start a scheduled run; will retry');
      return false;
    }
    await this.record(
      em,
      schedule,
      dueAt,
      now,
      outcome.ok
        ? { outcome: ScheduleRunOutcome.Triggered, executionId: outcome.executionId, error: null }
        : { outcome: ScheduleRunOutcome.Failed, executionId: null, error: outcome.message },
    );
    return true;
  }

  private async record(
    em: ReturnType<Database['fork']>,
    schedule: Schedule,
    scheduledFor: Date,
    firedAt: Date,
    result: { outcome: ScheduleRunOutcome; executionId: string | null; error: string | null },
  ): Promise<void> {
    em.create(ScheduleRun, { scheduleId: schedule.id, scheduledFor, firedAt, ...result });
    try {
      await em.flush();
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
    }
  }
}
