import type { RouteHandler, SubgraphContext } from '@nexusflow/kit';
import type { CohortQueries } from './domain/cohorts.ts';
import type { EventLog } from './domain/event-log.ts';
import type { EventStore } from './domain/event-store.ts';
import type { ExportJobs } from './domain/export-jobs.ts';
import type { EventExports } from './domain/exports.ts';
import type { EventIngestion } from './domain/ingestion.ts';
import type { UsageQueries } from './domain/metrics.ts';
import type { OperationUsageLog } from './domain/operation-usage.ts';
import type { MonthlyPartitions } from './domain/partitions.ts';
import type { ReportScheduler } from './domain/report-schedules.ts';
import type { ReportService } from './domain/reports.ts';
import type { AnalyticsLoaders } from './loaders.ts';

export interface AnalyticsServices {
  /** Where the events are kept: PostgreSQL (the service's database), or ClickHouse when CLICKHOUSE_URL is set. */
  store: EventStore;
  /** The gateway's usage reports: per-operation and per-coordinate aggregates, read by admins and schema checks. */
  operationUsage: OperationUsageLog;
  /** Stores bus events, each once by its id, in their month's partition. */
  ingestion: EventIngestion;
  partitions: MonthlyPartitions;
  events: EventLog;
  usage: UsageQueries;
  cohorts: CohortQueries;
  exports: EventExports;
  /** GET /exports/analytics: streams a tenant's events from a signed link. */
  exportRoute: RouteHandler;
  /** Saved reports, and GET /reports/analytics, which downloads a report's result from a signed link. */
  reports: ReportService;
  reportRoute: RouteHandler;
  /** Emails the scheduled reports that are due, through the notifications service. */
  reportScheduler: ReportScheduler;
  /** Background exports into files, and GET /exports/analytics/files, which downloads one from a signed link. */
  exportJobs: ExportJobs;
  exportFileRoute: RouteHandler;
}

export type AnalyticsContext = SubgraphContext<AnalyticsLoaders, AnalyticsServices>;
