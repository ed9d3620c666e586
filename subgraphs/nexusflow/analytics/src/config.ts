import { join } from 'node:path';
import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

/** A ClickHouse database name that is safe in DDL as it is. */
const CLICKHOUSE_DATABASE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const analyticsEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'analytics')),
  /** The public origin of GET /exports/analytics on this service (the gateway does not proxy it). */
  ANALYTICS_EXPORT_BASE_URL: z.url().optional(),
  /** Bus events stored at once. */
  ANALYTICS_EVENT_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** How often the monthly partitions of the coming months are made; 0 turns the pass off (events still make their own). */
  ANALYTICS_PARTITION_INTERVAL_MS: z.coerce.number().int().min(0).default(21_600_000),
  /** How many months after the current one the pass makes partitions for. */
  ANALYTICS_PARTITIONS_AHEAD: z.coerce.number().int().min(0).max(24).default(3),
  /** How often due scheduled reports are sent, and expired export files removed; 0 turns both passes off. */
  ANALYTICS_SCHEDULE_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  /** Where background exports write their files; default `<DATA_DIR>/analytics-exports`. */
  ANALYTICS_EXPORT_DIR: z.string().min(1).optional(),
  /** How long a background export's file is kept for download. */
  ANALYTICS_EXPORT_RETENTION_HOURS: z.coerce.number().int().min(1).max(8760).default(168),
  /**
   * ClickHouse's HTTP interface, e.g. `http://user:password@clickhouse:8123/analytics`: when set, events are stored and
   * read there instead of in the service's PostgreSQL.
   */
  CLICKHOUSE_URL: z
    .url({ protocol: /^https?$/ })
    .refine((url) => ['', '/'].includes(new URL(url).pathname) || CLICKHOUSE_DATABASE.test(new URL(url).pathname.slice(1)), {
      message: 'The path of CLICKHOUSE_URL is a database name: letters, digits and underscores',
    })
    .optional(),
  /** The ClickHouse database, made at start-up when missing; default the one in CLICKHOUSE_URL's path, else `analytics`. */
  CLICKHOUSE_DATABASE: z.string().regex(CLICKHOUSE_DATABASE, 'letters, digits and underscores').optional(),
  /** Events sent to ClickHouse in one insert at most. */
  CLICKHOUSE_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** How long an event waits for others before its batch is sent to ClickHouse (its delivery is acknowledged after). */
  CLICKHOUSE_FLUSH_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(200),
});

/** ClickHouse's settings when CLICKHOUSE_URL is set: the URL without its path, which names the database. */
function clickHouseOf(parsed: z.infer<typeof analyticsEnvSchema>) {
  if (!parsed.CLICKHOUSE_URL) return undefined;
  const url = new URL(parsed.CLICKHOUSE_URL);
  const inUrl = url.pathname.slice(1);
  url.pathname = '/';
  return {
    url: url.toString(),
    database: parsed.CLICKHOUSE_DATABASE ?? (inUrl || 'analytics'),
    batchSize: parsed.CLICKHOUSE_BATCH_SIZE,
    flushIntervalMs: parsed.CLICKHOUSE_FLUSH_INTERVAL_MS,
  };
}

export function loadAnalyticsConfig(env?: Environment) {
  return loadSubgraphConfig('analytics', analyticsEnvSchema, env, (parsed) => ({
    exportBaseUrl: parsed.ANALYTICS_EXPORT_BASE_URL ?? `http://localhost:${parsed.PORT}`,
    eventConcurrency: parsed.ANALYTICS_EVENT_CONCURRENCY,
    partitionIntervalMs: parsed.ANALYTICS_PARTITION_INTERVAL_MS,
    partitionsAhead: parsed.ANALYTICS_PARTITIONS_AHEAD,
    notificationsUrl: parsed.NOTIFICATIONS_URL,
    scheduleIntervalMs: parsed.ANALYTICS_SCHEDULE_INTERVAL_MS,
    exportDirectory: parsed.ANALYTICS_EXPORT_DIR ?? join(parsed.DATA_DIR, 'analytics-exports'),
    exportRetentionMs: parsed.ANALYTICS_EXPORT_RETENTION_HOURS * 3_600_000,
    /** Set: events are in ClickHouse; unset: in the service's PostgreSQL (or PGlite). */
    clickhouse: clickHouseOf(parsed),
  }));
}

export type AnalyticsConfig = ReturnType<typeof loadAnalyticsConfig>;
