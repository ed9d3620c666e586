import { PeriodicTask, systemFork, type Database, type Logger } from '@nexusflow/kit';
import type Stripe from 'stripe';
import { monthOf } from './usage.ts';

export const METERS = ['EXECUTIONS', 'AI_TOKENS'] as const;
export type Meter = (typeof METERS)[number];

/** The usage counter's column each meter reports; fixed names, never input. */
const COUNTER_COLUMN: Record<Meter, string> = { EXECUTIONS: 'executions', AI_TOKENS: 'ai_tokens' };

/** A closed month is reported this long after it ends, so that events of its last minutes still on the bus are counted. */
export const SETTLE_MS = 60 * 60_000;
/** Stripe takes meter events up to 35 days old; a period that ended longer ago than this margin is no longer sent. */
const STRIPE_BACKDATE_LIMIT_MS = 34 * 24 * 60 * 60_000;
const BATCH = 500;

export interface MeteredUsageOptions {
  database: Database;
  stripe: Stripe | undefined;
  /** The event name of the Stripe meter of each metered metric; a metric without one is not reported. */
  meterEventNames: Partial<Record<Meter, string>>;
  logger: Logger;
  now: () => number;
}

interface PendingReport {
  id: string;
  tenant_id: string;
  period_start: Date | string;
  meter: string;
  event_name: string;
  stripe_customer_id: string;
  quantity: number | string;
  identifier: string;
}

/**
 * Reports each paid tenant's executions and AI tokens of the month just closed to Stripe's meters, exactly once: a row
 * per (tenant, period, meter) is claimed with the quantity before anything is sent, sent under an identifier derived
 * from tenant, period and meter (the meter event's identifier and the request's idempotency key, which Stripe
 * deduplicates by), and marked reported in the same transaction that holds its row lock. A crash between Stripe's
 * answer and the mark leaves the row unreported, and the next pass sends the same identifier, which Stripe counts
 * once; another instance skips a row being sent (skip locked) and finds it reported afterwards.
 */
export class MeteredUsageReporter {
  private readonly passes: PeriodicTask;

  constructor(private readonly options: MeteredUsageOptions) {
    this.passes = new PeriodicTask(() => this.reportClosedPeriods(), {
      logger: options.logger,
      failureMessage: 'metered usage pass failed; retrying on the next',
      immediately: true,
    });
  }

  private get meters(): [Meter, string][] {
    return METERS.flatMap((meter) => {
      const eventName = this.options.meterEventNames[meter];
      return eventName ? [[meter, eventName] as [Meter, string]] : [];
    });
  }

  /** One pass: claims the reports of the month just closed (once it settled), then sends every unreported one. */
  async reportClosedPeriods(): Promise<{ reported: number; failed: number }> {
    const stripe = this.options.stripe;
    if (!stripe || this.meters.length === 0) return { reported: 0, failed: 0 };
    const now = this.options.now();
    const current = monthOf(now).start;
    if (now >= current.getTime() + SETTLE_MS) await this.claim(monthOf(current.getTime() - 1).start);
    return this.sendPending(stripe, now);
  }

  /** Runs a pass now and every `intervalMs`; a pass still running when the next is due is not doubled. */
  start(intervalMs: number): void {
    this.passes.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /**
   * The period's reports of the tenants on a paid plan then (a Stripe subscription not canceled before the period
   * began), one statement per meter; a report claimed already keeps its first quantity.
   */
  private async claim(periodStart: Date): Promise<void> {
    const connection = systemFork(this.options.database).getConnection();
    const period = periodStart.toISOString().slice(0, 7);
    for (const [meter, eventName] of this.meters) {
      const column = COUNTER_COLUMN[meter];
      await connection.execute(
        `insert into "usage_reports" ("id", "created_at", "tenant_id", "period_start", "meter", "event_name", "stripe_customer_id",
           "quantity", "identifier", "reported_at")
         select gen_random_uuid(), now(), c."tenant_id", c."period_start", ?, ?, cu."stripe_customer_id", c."${column}",
           concat('nexusflow-', c."tenant_id", ?), null
         from "usage_counters" c
         join "billing_customers" cu on cu."tenant_id" = c."tenant_id"
         join "billing_subscriptions" s on s."tenant_id" = c."tenant_id"
         where c."period_start" = ?::timestamptz and c."${column}" > 0
           and s."stripe_subscription_id" is not null and s."plan_tier" <> 'FREE'
           and (s."canceled_at" is null or s."canceled_at" > c."period_start")
         on conflict do nothing`,
        [meter, eventName, `-${period}-${meter.toLowerCase().replace('_', '-')}`, periodStart.toISOString()],
        'run',
      );
    }
  }

  private async sendPending(stripe: Stripe, now: number): Promise<{ reported: number; failed: number }> {
    // Periods that ended longer ago than Stripe takes back-dated events are left as they are: unreported.
    const oldestSendable = monthOf(now - STRIPE_BACKDATE_LIMIT_MS).start;
    const pending = await systemFork(this.options.database)
      .getConnection()
      .execute<{ id: string }[]>(
        `select "id" from "usage_reports" where "reported_at" is null and "period_start" >= ?::timestamptz
         order by "created_at" limit ${BATCH}`,
        [oldestSendable.toISOString()],
      );
    let reported = 0;
    let failed = 0;
    for (const { id } of pending) {
      try {
        if (await this.send(stripe, id, now)) reported += 1;
      } catch (error) {
        failed += 1;
        this.options.logger.error({ err: error, reportId: id }, 'could not report metered usage to Stripe; the next pass retries');
      }
    }
    return { reported, failed };
  }

  /** Sends one report unless another pass holds or finished it; resolves whether this one sent it. */
  private send(stripe: Stripe, id: string, now: number): Promise<boolean> {
    return systemFork(this.options.database).transactional(async (em) => {
      const connection = em.getConnection();
      const [report] = await connection.execute<PendingReport[]>(
        `select * from "usage_reports" where "id" = ? and "reported_at" is null for update skip locked`,
        [id],
        'all',
        em.getTransactionContext(),
      );
      if (!report) return false;
      // Within the period, at its last second: Stripe bills the event in the subscription period that holds it.
      const timestamp = Math.floor(monthOf(new Date(report.period_start).getTime()).end.getTime() / 1000) - 1;
      await stripe.billing.meterEvents.create(
        {
          event_name: report.event_name,
          payload: { stripe_customer_id: report.stripe_customer_id, value: String(report.quantity) },
          identifier: report.identifier,
          timestamp,
        },
        { idempotencyKey: report.identifier },
      );
      await connection.execute(
        `update "usage_reports" set "reported_at" = ?::timestamptz where "id" = ?`,
        [new Date(now).toISOString(), id],
        'run',
        em.getTransactionContext(),
      );
      return true;
    });
  }
}
