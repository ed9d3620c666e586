import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const analyticsEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'analytics')),
  /** The public origin of GET /exports/analytics on this service (the gateway does not proxy it). */
  ANALYTICS_EXPORT_BASE_URL: z.url().default('http://localhost:3006'),
  /** Bus events stored at once. */
  ANALYTICS_EVENT_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** How often the monthly partitions of the coming months are made; 0 turns the pass off (events still make their own). */
  ANALYTICS_PARTITION_INTERVAL_MS: z.coerce.number().int().min(0).default(21_600_000),
  /** How many months after the current one the pass makes partitions for. */
  ANALYTICS_PARTITIONS_AHEAD: z.coerce.number().int().min(0).max(24).default(3),
});

export function loadAnalyticsConfig(env?: Environment) {
  return loadSubgraphConfig('analytics', analyticsEnvSchema, env, (parsed) => ({
    exportBaseUrl: parsed.ANALYTICS_EXPORT_BASE_URL,
    eventConcurrency: parsed.ANALYTICS_EVENT_CONCURRENCY,
    partitionIntervalMs: parsed.ANALYTICS_PARTITION_INTERVAL_MS,
    partitionsAhead: parsed.ANALYTICS_PARTITIONS_AHEAD,
  }));
}

export type AnalyticsConfig = ReturnType<typeof loadAnalyticsConfig>;
