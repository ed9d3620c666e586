import { tenantFilter, timestampedEntityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { ReportFormat } from './report.entity.ts';

export type ExportJobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'EXPIRED';

/**
 * A background export of a tenant's events of a period into a file. A worker holds it while RUNNING by its lease
 * (`leaseExpiresAt`, renewed each batch): a job whose lease ran out was left by a dead worker, and is taken again.
 */
export const AnalyticsExportJobSchema = defineEntity({
  name: 'AnalyticsExportJob',
  tableName: 'analytics_export_jobs',
  filters: tenantFilter(),
  properties: {
    ...timestampedEntityBase,
    tenantId: p.uuid().index(),
    requestedBy: p.uuid(),
    periodFrom: p.datetime(),
    periodTo: p.datetime(),
    format: p.string().$type<ReportFormat>(),
    status: p.string().$type<ExportJobStatus>().index(),
    rows: p.bigint('number'),
    bytes: p.bigint('number'),
    attempts: p.integer(),
    error: p.text().nullable(),
    leaseExpiresAt: p.datetime().nullable(),
    /** Where the storage keeps the file. */
    storageKey: p.string().nullable(),
    finishedAt: p.datetime().nullable(),
    expiresAt: p.datetime().nullable().index(),
  },
});

export class AnalyticsExportJob extends AnalyticsExportJobSchema.class {}
AnalyticsExportJobSchema.setClass(AnalyticsExportJob);
