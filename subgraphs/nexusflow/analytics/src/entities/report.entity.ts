import { tenantFilter, timestampedEntityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export type ReportKind = 'USAGE_METRICS' | 'DASHBOARD' | 'COHORTS';
export type ReportPeriod = 'LAST_7_DAYS' | 'LAST_30_DAYS' | 'MONTH_TO_DATE';
export type ReportFormat = 'CSV' | 'JSON_LINES';

/**
 * A saved report of a tenant: what it shows over which period relative to its run, and, when it has a schedule, the
 * cron expression, time zone and recipients it is emailed by. `nextRunAt` is set exactly when it has a schedule; the
 * scheduling pass takes the due ones by it.
 */
export const ReportSchema = defineEntity({
  name: 'Report',
  tableName: 'analytics_reports',
  filters: tenantFilter(),
  properties: {
    ...timestampedEntityBase,
    tenantId: p.uuid().index(),
    name: p.string(),
    kind: p.string().$type<ReportKind>(),
    period: p.string().$type<ReportPeriod>(),
    /** A DASHBOARD report's metric and bucket; null for the other kinds. */
    metric: p.string().nullable(),
    bucket: p.string().nullable(),
    format: p.string().$type<ReportFormat>(),
    createdBy: p.uuid(),
    scheduleCron: p.string().nullable(),
    scheduleTimeZone: p.string().nullable(),
    recipientUserIds: p.json<string[]>(),
    nextRunAt: p.datetime().nullable().index(),
    lastRunAt: p.datetime().nullable(),
  },
});

export class Report extends ReportSchema.class {}
ReportSchema.setClass(Report);
