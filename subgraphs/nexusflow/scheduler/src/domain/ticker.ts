import { randomUUID } from 'node:crypto';
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

/**
 * How long a claimed tick stays with the instance that claimed it: longer than its call to the workflows service may
 * take (10 s). An instance that dies before settling the tick leaves it to be claimed again after this.
 */
const CLAIM_LEASE_MS = 40_000;

interface ClaimedTick {
  schedule: Schedule;
  plan: OccurrencePlan;
  /** The lease this claim holds, to release only its own. */
  claimedUntil: Date;
}

/**
 * Fires due schedules on the kit's scheduling engine. Any number of scheduler instances may tick at once: a due schedule
 * is claimed under a row lock (`skip locked`) by one instance, which leases it for {@link CLAIM_LEASE_MS}, and the run it
 * starts carries an idempotency key for that tick, so a tick starts exactly one run. The schedule moves on to its next
 * tick only once the tick is settled (recorded as triggered, failed or skipped): a tick whose instance died, or whose
 * start the workflows service did not confirm, is claimed again and started under the same key, never lost.
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
    const claimedUntil = new Date(now.getTime() + CLAIM_LEASE_MS);
    return claimDue({
      database: this.options.database,
      entity: Schedule,
      due: {
        status: ScheduleStatus.Active,
        deletedAt: null,
        nextRunAt: { $lte: now },
        $or: [{ claimedUntil: null }, { claimedUntil: { $lte: now } }],
      },
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
        // An earlier claim may have started the run before its instance died or lost the answer: the misfire policy is
        // for ticks nobody tried, and skipping this one could leave a run that its schedule never shows.
        const attempted = schedule.claimedUntil !== null;
        schedule.claimedUntil = claimedUntil;
        return { schedule, plan: attempted ? { ...plan, action: 'fire' as const } : plan, claimedUntil };
      },
    });
  }

  private async fire({ schedule, plan, claimedUntil: claimed }: ClaimedTick, now: Date): Promise<boolean> {
    const em = systemFork(this.options.database);
    const { dueAt } = plan;
    // The claim's lease ran from the pass's start, and a batch fires its ticks one after another: renewed here, so that
    // a tick late in a long batch is not claimed by another instance while this one fires it.
    const claimedUntil = new Date((this.options.now?.() ?? new Date()).getTime() + CLAIM_LEASE_MS);
    if ((await em.nativeUpdate(Schedule, { id: schedule.id, claimedUntil: claimed }, { claimedUntil })) === 0) return false;
    if (plan.action === 'skip') {
      await this.settle(em, schedule, plan, claimedUntil, {
        firedAt: now,
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
      // Unreachable, or the answer was lost after the run started: the next pass tries the tick again under its key.
      await em.nativeUpdate(Schedule, { id: schedule.id, claimedUntil }, { claimedUntil: now });
      this.options.logger.warn({ scheduleId: schedule.id, error: outcome.message }, 'could not start a scheduled run; will retry');
      return false;
    }
    await this.settle(
      em,
      schedule,
      plan,
      claimedUntil,
      outcome.ok
        ? { firedAt: now, outcome: ScheduleRunOutcome.Triggered, executionId: outcome.executionId, error: null }
        : { firedAt: now, outcome: ScheduleRunOutcome.Failed, executionId: null, error: outcome.message },
    );
    return true;
  }

  /**
   * Records the tick (once, whichever claim gets there first) and moves the schedule on to its next tick, unless it was
   * changed meanwhile (replaced, paused or deleted), whose new next tick then stands.
   */
  private async settle(
    em: EntityManager,
    schedule: Schedule,
    { dueAt, next }: OccurrencePlan,
    claimedUntil: Date,
    result: { firedAt: Date; outcome: ScheduleRunOutcome; executionId: string | null; error: string | null },
  ): Promise<void> {
    await em
      .createQueryBuilder(ScheduleRun)
      .insert({ id: randomUUID(), scheduleId: schedule.id, scheduledFor: dueAt, ...result })
      .onConflict(['scheduleId', 'scheduledFor'])
      .ignore()
      .execute('run');
    const moved = await em.nativeUpdate(
      Schedule,
      { id: schedule.id, nextRunAt: dueAt, deletedAt: null },
      { nextRunAt: next, lastRunAt: dueAt, claimedUntil: null },
    );
    if (moved === 0) await em.nativeUpdate(Schedule, { id: schedule.id, claimedUntil }, { claimedUntil: null });
  }
}
