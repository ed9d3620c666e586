import { defineSubgraph, type HealthCheck } from '@nexusflow/kit';
import { loadAnalyticsConfig } from './config.ts';
import { AnalyticsEvent } from './entities/analytics-event.entity.ts';
import { AnalyticsExportJob } from './entities/analytics-export-job.entity.ts';
import { CoordinateUsage } from './entities/coordinate-usage.entity.ts';
import { OperationUsage } from './entities/operation-usage.entity.ts';
import { ReportDelivery } from './entities/report-delivery.entity.ts';
import { Report } from './entities/report.entity.ts';
import { UsageReportReceipt } from './entities/usage-report-receipt.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createAnalyticsServices, startAnalyticsWork } from './services.ts';

export const entities = [AnalyticsEvent, Report, ReportDelivery, AnalyticsExportJob, OperationUsage, CoordinateUsage, UsageReportReceipt];

export const subgraph = defineSubgraph({
  name: 'analytics',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAnalyticsConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createAnalyticsServices,
  background: startAnalyticsWork,
  // PostgreSQL is checked with the service's database; ClickHouse, when it holds the events, is a dependency of its own.
  healthChecks: (services): Record<string, HealthCheck> =>
    services.store.engine === 'clickhouse' ? { clickhouse: services.store.ping } : {},
  routes: (services) => [services.exportRoute, services.exportFileRoute, services.reportRoute],
});
