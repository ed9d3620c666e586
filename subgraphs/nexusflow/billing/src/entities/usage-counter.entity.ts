import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** What a tenant used in one calendar month (UTC), counted from the events of the workflows and ai services. */
export const UsageCounterSchema = defineEntity({
  name: 'UsageCounter',
  tableName: 'usage_counters',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    /** The first instant of the month counted. */
    periodStart: p.datetime(),
    executions: p.integer().default(0),
    aiTokens: p.bigint('number').default(0),
  },
  uniques: [{ properties: ['tenantId', 'periodStart'] }],
});

export class UsageCounter extends UsageCounterSchema.class {}
UsageCounterSchema.setClass(UsageCounter);
