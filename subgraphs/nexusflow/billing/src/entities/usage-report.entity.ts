import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One meter's usage of one tenant and period as reported to Stripe, at most one row per (tenant, period, meter): made
 * before the report is sent, with the quantity and the identifier Stripe deduplicates by, and marked reported after.
 * A pass that finds it unreported sends the same identifier again, which Stripe counts once.
 */
export const UsageReportSchema = defineEntity({
  name: 'UsageReport',
  tableName: 'usage_reports',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    /** The first instant of the calendar month (UTC) reported. */
    periodStart: p.datetime(),
    /** Which meter: EXECUTIONS or AI_TOKENS. */
    meter: p.string(),
    /** The Stripe meter's event name it was reported under. */
    eventName: p.string(),
    stripeCustomerId: p.string(),
    quantity: p.bigint('number'),
    /** The meter event's identifier and the request's idempotency key, derived from tenant, period and meter. */
    identifier: p.string().unique(),
    reportedAt: p.datetime().nullable().index(),
  },
  uniques: [{ properties: ['tenantId', 'periodStart', 'meter'] }],
});

export class UsageReport extends UsageReportSchema.class {}
UsageReportSchema.setClass(UsageReport);
