import { createWorkQueue, PeriodicTask, systemFork, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { AnalyticsConfig } from './config.ts';
import type { AnalyticsServices } from './context.ts';
import { ClickHouseEventStore } from './domain/clickhouse-event-store.ts';
import { CohortQueries } from './domain/cohorts.ts';
import { EventLog } from './domain/event-log.ts';
import { ExportJobs, type ExportJobMessage } from './domain/export-jobs.ts';
import { LocalDirectoryStorage } from './domain/export-storage.ts';
import { EventExports } from './domain/exports.ts';
import { EventIngestion } from './domain/ingestion.ts';
import { UsageQueries } from './domain/metrics.ts';
import { OperationUsageLog } from './domain/operation-usage.ts';
import { MonthlyPartitions } from './domain/partitions.ts';
import { PostgresEventStore } from './domain/postgres-event-store.ts';
import { ReportScheduler } from './domain/report-schedules.ts';
import { ReportService } from './domain/reports.ts';

export function createAnalyticsServices(runtime: SubgraphRuntime, config: AnalyticsConfig): AnalyticsServices {
  const partitions = new MonthlyPartitions();
  // ClickHouse when configured, never guessed: otherwise the service's own database.
  const store = config.clickhouse ? new ClickHouseEventStore(config.clickhouse) : new PostgresEventStore(runtime.database, partitions);
  const exports = new EventExports(store, config.exportBaseUrl, config.subgraph.internalSecret, runtime.clock);
  const usage = new UsageQueries(store);
  const cohorts = new CohortQueries(store);
  const reports = new ReportService(config.exportBaseUrl, config.subgraph.internalSecret, runtime.clock, usage, cohorts);
  const exportJobs = new ExportJobs({
    database: runtime.database,
    queue: createWorkQueue<ExportJobMessage>(runtime.config.amqpUrl, exportJobQueueName(runtime.config.amqpNamespace), runtime.logger),
    storage: new LocalDirectoryStorage(config.exportDirectory),
    exports,
    baseUrl: config.exportBaseUrl,
    internalSecret: config.subgraph.internalSecret,
    now: runtime.clock,
    retentionMs: config.exportRetentionMs,
    notificationsUrl: config.notificationsUrl,
    logger: runtime.logger,
  });
  return {
    store,
    ingestion: new EventIngestion(store, runtime.clock),
    partitions,
    operationUsage: new OperationUsageLog(runtime.database, runtime.clock),
    events: new EventLog(store),
    usage,
    cohorts,
    exports,
    exportRoute: exports.route(runtime.logger),
    reports,
    reportRoute: reports.route(runtime.database, runtime.logger),
    reportScheduler: new ReportScheduler({
      database: runtime.database,
      reports,
      notificationsUrl: config.notificationsUrl,
      internalSecret: config.subgraph.internalSecret,
      logger: runtime.logger,
      now: runtime.clock,
    }),
    exportJobs,
    exportFileRoute: exportJobs.route(),
  };
}

/** The queue every event on the bus reaches; durable, so that events published while analytics is down wait for it. */
export const analyticsQueueName = (namespace: string) => `${namespace}.analytics.events`;

/** The work queue of background export jobs. */
export const exportJobQueueName = (namespace: string) => `${namespace}.analytics.export-jobs`;

/**
 * The durable consumer of every event on the bus (deduplicated by event id), after the event store's schema, and the
 * pass making PostgreSQL's partitions ahead.
 */
export async function startAnalyticsWork(
  runtime: SubgraphRuntime,
  services: AnalyticsServices,
  config: AnalyticsConfig,
): Promise<Stoppable> {
  await services.store.migrate();
  const partitioning = new PeriodicTask(
    async () => {
      if (services.store.engine === 'postgresql')
        await services.partitions.ensureAhead(systemFork(runtime.database), new Date(runtime.clock()), config.partitionsAhead);
    },
    { logger: runtime.logger, failureMessage: 'making the coming months’ partitions failed; trying again next time', immediately: true },
  ).start(config.partitionIntervalMs);
  const events = await runtime.eventBus.subscribe(
    { queue: analyticsQueueName(runtime.config.amqpNamespace), bindings: ['#'], concurrency: config.eventConcurrency },
    async (event) => {
      try {
        await services.ingestion.ingest(event);
      } catch (error) {
        runtime.logger.error({ err: error, eventId: event.id, type: event.type }, 'could not store an event; it will be redelivered');
        throw error;
      }
    },
  );
  const exportWorker = await services.exportJobs.queue.consume((message) => services.exportJobs.work(message), { concurrency: 2 });
  // Jobs a stopped instance left behind are taken over now, not a pass later.
  const upkeep = new PeriodicTask(() => Promise.all([services.exportJobs.recover(), services.exportJobs.prune()]), {
    logger: runtime.logger,
    failureMessage: 'recovering or pruning export jobs failed; trying again next time',
    immediately: true,
  }).start(config.scheduleIntervalMs);
  if (config.scheduleIntervalMs > 0) services.reportScheduler.start(config.scheduleIntervalMs);
  return {
    async close() {
      await services.reportScheduler.stop();
      await events.stop();
      await exportWorker.stop();
      await upkeep.stop();
      await services.exportJobs.queue.close();
      await partitioning.stop();
      await services.store.close();
    },
  };
}
