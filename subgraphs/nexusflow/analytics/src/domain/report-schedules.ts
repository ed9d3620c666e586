import { LockMode } from '@mikro-orm/postgresql';
import {
  callSubgraph,
  PeriodicTask,
  Role,
  SubgraphRequestError,
  systemFork,
  type Database,
  type EntityManager,
  type Logger,
} from '@nexusflow/kit';
import { SendAnalyticsNotificationDocument } from '../__generated__/notifications-operations.ts';
import { ReportDelivery } from '../entities/report-delivery.entity.ts';
import { Report } from '../entities/report.entity.ts';
import { nextRunOf, rowsOf, textTable, type ReportService } from './reports.ts';

/** The notification's event type: a recipient chooses its channels, and a tenant may word it, by it. */
export const SCHEDULED_REPORT_EVENT_TYPE = 'analytics.report.scheduled';
const BATCH_SIZE = 50;
const MAX_ATTEMPTS = 5;
/** How long a pass holds a delivery it claimed before another may take it: far longer than sending takes. */
const LEASE_MS = 5 * 60_000;
const BACKOFF_MS = 60_000;

export interface ReportSchedulerOptions {
  database: Database;
  reports: ReportService;
  notificationsUrl: string;
  internalSecret: string;
  logger: Logger;
  now: () => number;
}

/**
 * Sends scheduled reports. A pass first claims the reports due at its time under row locks (`skip locked`, so that
 * instances share them rather than wait), recording one delivery per (report, scheduled time) and moving the report's
 * next run on in the same transaction: however many instances pass at once, a due time is claimed once. It then sends
 * the unsent deliveries it leases, each recipient under an idempotency key of the delivery, so that a retry after a
 * crash halfway notifies nobody twice.
 */
export class ReportScheduler {
  private readonly passes: PeriodicTask;

  constructor(private readonly options: ReportSchedulerOptions) {
    this.passes = new PeriodicTask(() => this.runDue(), {
      logger: options.logger,
      failureMessage: 'a scheduled reports pass failed; trying again next time',
    });
  }

  start(intervalMs: number): void {
    this.passes.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** Claims the reports due at `at` and sends every delivery that is due; returns how many deliveries were sent. */
  async runDue(at: Date = new Date(this.options.now())): Promise<number> {
    await this.claimDue(at);
    const em = systemFork(this.options.database);
    const claimed = await em.getConnection().execute<{ id: string }[]>(
      `update "analytics_report_deliveries" set "next_attempt_at" = :lease::timestamptz, "attempts" = "attempts" + 1
       where "id" in (select "id" from "analytics_report_deliveries"
                      where "sent_at" is null and "attempts" < :maxAttempts and "next_attempt_at" <= :now::timestamptz
                      order by "scheduled_for" limit :batch for update skip locked)
       returning "id"`,
      { now: at.toISOString(), lease: new Date(at.getTime() + LEASE_MS).toISOString(), maxAttempts: MAX_ATTEMPTS, batch: BATCH_SIZE },
    );
    let sent = 0;
    for (const delivery of await em.find(
      ReportDelivery,
      { id: { $in: claimed.map(({ id }) => id) } },
      { orderBy: { scheduledFor: 'asc' } },
    )) {
      if (await this.send(em, delivery, at)) sent += 1;
    }
    return sent;
  }

  private async claimDue(at: Date): Promise<void> {
    await systemFork(this.options.database).transactional(async (tx) => {
      const due = await tx.find(
        Report,
        { nextRunAt: { $lte: at } },
        { orderBy: { nextRunAt: 'asc' }, limit: BATCH_SIZE, lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE },
      );
      for (const report of due) {
        const scheduledFor = report.nextRunAt!;
        // A report missed while no instance ran is sent once for its latest due time, not once per missed time.
        if ((await tx.count(ReportDelivery, { reportId: report.id, scheduledFor })) === 0) {
          tx.create(ReportDelivery, {
            tenantId: report.tenantId,
            reportId: report.id,
            scheduledFor,
            attempts: 0,
            nextAttemptAt: scheduledFor,
            sentAt: null,
            lastError: null,
          });
        }
        report.lastRunAt = scheduledFor;
        report.nextRunAt = nextRunOf(report.scheduleCron!, report.scheduleTimeZone!, at);
      }
    });
  }

  private async send(em: EntityManager, delivery: ReportDelivery, at: Date): Promise<boolean> {
    const context = { reportId: delivery.reportId, scheduledFor: delivery.scheduledFor.toISOString(), attempt: delivery.attempts };
    const report = await em.findOne(Report, delivery.reportId);
    if (!report || report.recipientUserIds.length === 0) {
      // Deleted, or its schedule removed, since it was due: there is nobody left to send it to.
      Object.assign(delivery, { sentAt: at, lastError: 'the report or its schedule was removed before it was sent' });
      await em.flush();
      return false;
    }
    const retry = async (error: string) => {
      Object.assign(delivery, { lastError: error, nextAttemptAt: new Date(at.getTime() + BACKOFF_MS * 2 ** (delivery.attempts - 1)) });
      await em.flush();
      return false;
    };
    let variables: { title: string; body: string; link: string };
    try {
      const result = await this.options.reports.runScheduled(this.options.database, report, delivery.scheduledFor);
      const period = `${result.from.toISOString().slice(0, 16).replace('T', ' ')} – ${result.to.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
      variables = {
        title: `Report "${report.name}"`,
        body: `${report.name}, ${period}\n\n${textTable(rowsOf(result))}\n\nDownload (${report.format === 'CSV' ? 'CSV' : 'JSON lines'}, for 7 days): ${result.downloadUrl}`,
        link: result.downloadUrl,
      };
    } catch (error) {
      this.options.logger.error({ err: error, ...context }, 'could not run a scheduled report; retrying later');
      return retry('the report could not be run');
    }
    const sender = { kind: 'user' as const, userId: report.createdBy, tenantId: report.tenantId, roles: [Role.Member] };
    const failures: string[] = [];
    for (const userId of report.recipientUserIds) {
      try {
        await callSubgraph({
          url: this.options.notificationsUrl,
          internalSecret: this.options.internalSecret,
          identity: sender,
          query: SendAnalyticsNotificationDocument,
          variables: {
            input: {
              userId,
              eventType: SCHEDULED_REPORT_EVENT_TYPE,
              variables,
              idempotencyKey: `analytics-report:${delivery.id}:${userId}`,
            },
          },
        });
      } catch (error) {
        if (!(error instanceof SubgraphRequestError)) throw error;
        if (error.retryable) return retry(`notifications could not take it (${error.code})`);
        // A recipient who left the tenant: the others still get it.
        this.options.logger.warn({ ...context, userId, code: error.code }, 'notifications refused a scheduled report for a recipient');
        failures.push(`${userId}: ${error.message}`);
      }
    }
    Object.assign(delivery, { sentAt: at, lastError: failures.length > 0 ? failures.join('; ') : null });
    await em.flush();
    return true;
  }
}
