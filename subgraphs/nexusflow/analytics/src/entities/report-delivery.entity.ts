import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One scheduled time of one report, made by the pass that claims it: at most one per (report, scheduled time), which is
 * what keeps two instances (or a retried pass) from sending it twice. `sentAt` stays null until every recipient was
 * handed to the notifications service; a later pass retries those left unsent, under the same idempotency keys.
 */
export const ReportDeliverySchema = defineEntity({
  name: 'ReportDelivery',
  tableName: 'analytics_report_deliveries',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    reportId: p.uuid(),
    scheduledFor: p.datetime(),
    attempts: p.integer(),
    /** When a pass may (re)try it: the lease of the pass that holds it, or the backoff after a failure. */
    nextAttemptAt: p.datetime(),
    sentAt: p.datetime().nullable().index(),
    lastError: p.text().nullable(),
  },
  uniques: [{ properties: ['reportId', 'scheduledFor'] }],
});

export class ReportDelivery extends ReportDeliverySchema.class {}
ReportDeliverySchema.setClass(ReportDelivery);
