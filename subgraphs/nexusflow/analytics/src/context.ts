import type { RouteHandler, SubgraphContext } from '@nexusflow/kit';
import type { CohortQueries } from './domain/cohorts.ts';
import type { EventLog } from './domain/event-log.ts';
import type { EventExports } from './domain/exports.ts';
import type { EventIngestion } from './domain/ingestion.ts';
import type { UsageQueries } from './domain/metrics.ts';
import type { MonthlyPartitions } from './domain/partitions.ts';
import type { AnalyticsLoaders } from './loaders.ts';

export interface AnalyticsServices {
  /** Stores bus events, each once by its id, in their month's partition. */
  ingestion: EventIngestion;
  partitions: MonthlyPartitions;
  events: EventLog;
  usage: UsageQueries;
  cohorts: CohortQueries;
  exports: EventExports;
  /** GET /exports/analytics: streams a tenant's events from a signed link. */
  exportRoute: RouteHandler;
}

export type AnalyticsContext = SubgraphContext<AnalyticsLoaders, AnalyticsServices>;
