import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One event of the bus, as analytics keeps it: the columns its queries group and aggregate by, and the payload. The
 * table is partitioned by month of `occurredAt` (migration 0001; partitions are made by `MonthlyPartitions`), which is
 * why `occurredAt` is part of the primary key: PostgreSQL wants every unique key of a partitioned table to hold it. A
 * redelivered event has the same id and time, so the key still recognises it.
 */
export const AnalyticsEventSchema = defineEntity({
  name: 'AnalyticsEvent',
  tableName: 'analytics_events',
  filters: tenantFilter(),
  indexes: [{ properties: ['tenantId', 'occurredAt'] }, { properties: ['tenantId', 'type', 'occurredAt'] }],
  properties: {
    /** The bus event's id (a UUID derived from it when it was none). */
    id: p.uuid().primary(),
    occurredAt: p.datetime().primary(),
    /** When analytics stored it. */
    createdAt: p.datetime().onCreate(() => new Date()),
    tenantId: p.uuid(),
    type: p.string(),
    /** The user it names as acting (`…By`, `actorId`, `userId`, `ownerId`); null for the platform's own doings. */
    userId: p.string().nullable(),
    /** The thing it is about, e.g. the execution of `workflow.execution.completed`. */
    subjectId: p.string().nullable(),
    /** Every `…Id` of its payload, by key. */
    subjectIds: p.json<Record<string, string>>(),
    durationMs: p.bigint('number').nullable(),
    status: p.string().nullable(),
    tokens: p.bigint('number').nullable(),
    payload: p.json<Record<string, unknown>>(),
  },
});

export class AnalyticsEvent extends AnalyticsEventSchema.class {}
AnalyticsEventSchema.setClass(AnalyticsEvent);
