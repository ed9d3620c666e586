import { entityId, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * How often one client (name and version) of one tenant called one operation in one hour, as the gateway reported it:
 * counts, errors and a duration histogram, added to by every report of that hour (domain/operation-usage.ts). Anonymous
 * callers' operations are kept under {@link NO_TENANT}, which no tenant's queries match.
 */
export const OperationUsageSchema = defineEntity({
  name: 'OperationUsage',
  tableName: 'operation_usage',
  filters: tenantFilter(),
  uniques: [{ name: 'operation_usage_hourly_unique', properties: ['tenantId', 'hour', 'clientName', 'clientVersion', 'operationHash'] }],
  properties: {
    ...entityId,
    tenantId: p.uuid(),
    hour: p.datetime(),
    /** Empty when the client named none. */
    clientName: p.string().length(128),
    clientVersion: p.string().length(128),
    operationHash: p.string().length(64),
    operationName: p.string().nullable(),
    operationType: p.string().length(16),
    count: p.bigint('number'),
    errorCount: p.bigint('number'),
    errorCodes: p.json<string[]>(),
    durationMsSum: p.double(),
    /** 20 counts: bucket 0 under 1 ms, bucket i from 2^(i-1) to 2^i ms, bucket 19 longer. */
    durationBuckets: p.json<number[]>(),
    lastSeenAt: p.datetime(),
  },
});

export class OperationUsage extends OperationUsageSchema.class {}
OperationUsageSchema.setClass(OperationUsage);

/** The tenant of anonymous callers' usage: the nil UUID, which no tenant has. */
export const NO_TENANT = '00000000-0000-0000-0000-000000000000';
