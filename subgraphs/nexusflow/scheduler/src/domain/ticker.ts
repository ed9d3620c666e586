import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  claimDue,
  DueWorkTicker,
  occurrenceKey,
  planOccurrence,
  Role,
  systemFork,
  type Database,
  type EntityManager,
  type Logger,
  type OccurrencePlan,
} from '@nexusflow/kit';
import { Schedule, ScheduleStatus } from '../entities/schedule.entity.ts';
import { ScheduleRun, ScheduleRunOutcome } from '../entities/schedule-run.entity.ts';
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

interface ClaimedTick {
  schedule: Schedule;
  plan: OccurrencePlan;
}

/**
 * Fires due schedules on the kit's scheduling engine. Any number of scheduler instances may tick at once: a due schedule
 * is claimed under a row lock (`skip locked`) by one instance, which moves its `nextRunAt` forward in the same
 * transaction, and the run it starts carries an idempotency key for that tick, so a tick starts exactly one run.
 */
export class ScheduleTicker {
  private readonly misfireGraceMs: number;
  private readonly batchSize: number;
  private readonly engine: DueWorkTicker<ClaimedTick>;

  constructor(private readonly options: TickerOptions) {
    this.misfireGraceMs = options.misfireGraceMs ?? 60_000;
    this.batchSize = options.batchSize ?? 100;
    this.engine = new DueWorkTicker({
      logger: options.logger,
      failureMessage: 'scheduler tick failed',
      ...(options.now ? { now: options.now } : {}),
      claim: (now) => this.claim(now),
      handle: (tick, now) => this.fire(tick, now),
    });
  }

  start(intervalMs: number): void {
    this.engine.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.engine.stop();
  }

  /** Fires every schedule due now; returns how many ticks this instance fired. */
  tick(): Promise<number> {
    return this.engine.tick();
  }

  private claim(now: Date): Promise<ClaimedTick[]> {
    return claimDue({
      database: this.options.database,
      entity: Schedule,
      due: { status: ScheduleStatus.Active, deletedAt: null, nextRunAt: { $lte: now } },
      orderBy: { nextRunAt: 'asc' },
      limit: this.batchSize,
      claim: (schedule) => {
        const plan = planOccurrence({
          recurrence: recurrenceOf(schedule),
          dueAt: schedule.nextRunAt!,
          now,
          misfireGraceMs: this.misfireGraceMs,
          misfirePolicy: schedule.misfirePolicy,
        });
        schedule.nextRunAt = plan.next;
        schedule.lastRunAt = plan.dueAt;
        return { schedule, plan };
      },
    });
  }

  private async fire({ schedule, plan }: ClaimedTick, now: Date): Promise<boolean> {
    const em = systemFork(this.options.database);
    const { dueAt, next } = plan;
    if (plan.action === 'skip') {
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
      occurrenceKey('schedule', schedule.id, dueAt),
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
    em: EntityManager,
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
