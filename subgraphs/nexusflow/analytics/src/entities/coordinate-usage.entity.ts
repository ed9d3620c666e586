import { entityId, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * How often one client (name and version) of one tenant used one schema coordinate (`Type.field`, `Type.field.arg`,
 * `Input.field`, `Enum.VALUE` or `Type`) in one UTC day. Indexed by coordinate and day, so that "who used these
 * coordinates in the last 30 days", what `schema:check --usage-days` asks, is one index range scan.
 */
export const CoordinateUsageSchema = defineEntity({
  name: 'CoordinateUsage',
  tableName: 'coordinate_usage',
  filters: tenantFilter(),
  uniques: [{ name: 'coordinate_usage_daily_unique', properties: ['tenantId', 'day', 'coordinate', 'clientName', 'clientVersion'] }],
  indexes: [{ properties: ['coordinate', 'day'] }],
  properties: {
    ...entityId,
    tenantId: p.uuid(),
    day: p.datetime(),
    coordinate: p.string().length(512),
    clientName: p.string().length(128),
    clientVersion: p.string().length(128),
    count: p.bigint('number'),
    lastSeenAt: p.datetime(),
  },
});

export class CoordinateUsage extends CoordinateUsageSchema.class {}
CoordinateUsageSchema.setClass(CoordinateUsage);
