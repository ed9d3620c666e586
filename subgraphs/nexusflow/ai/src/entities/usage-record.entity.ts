import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const UsageOperation = { Completion: 'COMPLETION', Embedding: 'EMBEDDING' } as const;
export type UsageOperation = (typeof UsageOperation)[keyof typeof UsageOperation];

/**
 * One request to one model on behalf of a tenant: what a bill and analytics are made of. A request that fell back
 * leaves a row for each model tried; a failed attempt costs nothing (providers do not bill them) but shows the outage.
 */
export const UsageRecordSchema = defineEntity({
  name: 'UsageRecord',
  tableName: 'usage_records',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    /** The person who asked; null for work the service does for a tenant (e.g. indexing a document). */
    userId: p.uuid().nullable(),
    /** Shared by the rows of one request. */
    requestId: p.uuid(),
    operation: p.enum(() => UsageOperation),
    provider: p.string(),
    model: p.string(),
    inputTokens: p.integer(),
    outputTokens: p.integer(),
    /** US dollars, at the catalogue's prices. */
    costUsd: p.double(),
    latencyMs: p.integer(),
    cacheHit: p.boolean(),
    succeeded: p.boolean(),
    /** Why the model did not answer, when it did not. */
    failure: p.string().nullable(),
    /** The prompt template the request was rendered from, when it was; version 0 is the built-in default. */
    promptName: p.string().nullable(),
    promptVersion: p.integer().nullable(),
  },
  indexes: [{ properties: ['tenantId', 'createdAt'] }],
});

export class UsageRecord extends UsageRecordSchema.class {}
UsageRecordSchema.setClass(UsageRecord);
