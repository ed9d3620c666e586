import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import type { TenantScope } from '@nexusflow/kit';
import {
  DASHBOARD_METRICS,
  ENDED_EXECUTIONS,
  EVENT_PAGE_LIMIT,
  EXPORT_BATCH,
  MEASURED_EXECUTIONS,
  everyBucket,
  type BucketValue,
  type CohortCount,
  type DashboardMetric,
  type EventQuery,
  type EventStore,
  type ExecutionDurations,
  type ExecutionsOfDay,
  type ExportCursor,
  type StoredEvent,
  type UsageTotals,
} from './event-store.ts';
import { EventType, type EventRow } from './events.ts';
import type { Bucket } from './periods.ts';

export interface ClickHouseStoreSettings {
  /** The server's HTTP interface, without the database (credentials and settings in it are kept). */
  url: string;
  /** Made at start-up when missing; a name checked by the configuration, so it is safe in DDL. */
  database: string;
  /** Rows sent in one insert at most. */
  batchSize: number;
  /** How long the first waiting row waits for others before its batch is sent. */
  flushIntervalMs: number;
}

/**
 * The schema, one versioned step at a time; an applied step is never edited, a change is a new step.
 *
 * Deduplication: the table is a ReplacingMergeTree whose sorting key holds the event's whole identity (tenant, type,
 * time, id: a redelivery has the same four), and every read says FINAL, so two deliveries of an event are one row to
 * every query from the moment both are stored, whether or not a background merge has folded them yet. Insert
 * deduplication tokens were not enough (they drop a repeated block, not an event repeated in another batch), and a
 * table of seen ids would need a read before every write, racing between consumers. Partitions are months, like the
 * PostgreSQL store's, and a repeat of an event always lands in its original's partition, which keeps FINAL local.
 */
const MIGRATIONS: { version: number; name: string; statements: string[] }[] = [
  {
    version: 1,
    name: 'events',
    statements: [
      `CREATE TABLE IF NOT EXISTS analytics_events (
        id UUID,
        occurred_at DateTime64(3, 'UTC'),
        created_at DateTime64(3, 'UTC'),
        tenant_id UUID,
        type LowCardinality(String),
        user_id Nullable(String),
        subject_id Nullable(String),
        subject_ids String,
        duration_ms Nullable(UInt64),
        status Nullable(String),
        tokens Nullable(UInt64),
        payload String,
        INDEX analytics_events_id id TYPE bloom_filter GRANULARITY 4
      ) ENGINE = ReplacingMergeTree()
      PARTITION BY toYYYYMM(occurred_at)
      ORDER BY (tenant_id, type, occurred_at, id)`,
    ],
  },
];

const VERSIONS_TABLE = `CREATE TABLE IF NOT EXISTS analytics_schema_versions (
  version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree() ORDER BY version`;

/**
 * The tenant and period every read names, as query parameters. Aliases in these queries never reuse a column's name:
 * ClickHouse substitutes an alias wherever the name appears in the query, aggregates included.
 */
const IN_PERIOD = `tenant_id = {tenant_id:UUID} AND occurred_at >= {from:DateTime64(3)} AND occurred_at < {to:DateTime64(3)}`;

/** The UTC start of a row's bucket, as Unix seconds; weeks start on Monday. */
const BUCKET_START: Record<Bucket, string> = {
  HOUR: `toUnixTimestamp(toDateTime(toStartOfHour(occurred_at), 'UTC'))`,
  DAY: `toUnixTimestamp(toDateTime(toStartOfDay(occurred_at), 'UTC'))`,
  WEEK: `toUnixTimestamp(toDateTime(toMonday(occurred_at), 'UTC'))`,
  MONTH: `toUnixTimestamp(toDateTime(toStartOfMonth(occurred_at), 'UTC'))`,
};

const AGGREGATES = { count: 'count()', distinctUsers: 'uniqExact(user_id)', tokens: 'sum(ifNull(tokens, 0))' } as const;

const ROW_COLUMNS = `id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, toUnixTimestamp64Milli(created_at) AS created_ms, tenant_id,
  type, user_id, subject_id, subject_ids, duration_ms, status, tokens, payload`;

/** The sign-ups of the period: each user's first `user.registered`, by its Monday. */
const SIGNUPS = `SELECT assumeNotNull(user_id) AS signup_user, toDateTime(toMonday(min(occurred_at)), 'UTC') AS signup_week
  FROM analytics_events FINAL
  WHERE ${IN_PERIOD} AND type = {registered:String} AND user_id IS NOT NULL
  GROUP BY signup_user`;

/** 64-bit integers come as strings in JSON (output_format_json_quote_64bit_integers). */
type Integer = string | number;

interface EventRecord {
  id: string;
  occurred_ms: Integer;
  created_ms: Integer;
  tenant_id: string;
  type: string;
  user_id: string | null;
  subject_id: string | null;
  subject_ids: string;
  duration_ms: Integer | null;
  status: string | null;
  tokens: Integer | null;
  payload: string;
}

const numberOrNull = (value: Integer | null) => (value === null ? null : Number(value));
const bucketsOf = (rows: { bucket_s: Integer; metric_value: Integer }[]): BucketValue[] =>
  rows.map(({ bucket_s, metric_value }) => ({ start: new Date(Number(bucket_s) * 1000), value: Number(metric_value) }));

function storedEvent(row: EventRecord): StoredEvent {
  return {
    id: row.id,
    occurredAt: new Date(Number(row.occurred_ms)),
    createdAt: new Date(Number(row.created_ms)),
    tenantId: row.tenant_id,
    type: row.type,
    userId: row.user_id,
    subjectId: row.subject_id,
    subjectIds: JSON.parse(row.subject_ids) as Record<string, string>,
    durationMs: numberOrNull(row.duration_ms),
    status: row.status,
    tokens: numberOrNull(row.tokens),
    payload: JSON.parse(row.payload) as Record<string, unknown>,
  };
}

interface Waiting {
  record: Record<string, unknown>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The events in ClickHouse, for when one PostgreSQL is outgrown: the same reads as {@link PostgresEventStore}, in
 * ClickHouse SQL (23.x or later), every value a query parameter. Inserts are batched on the client: an event waits
 * at most `flushIntervalMs` for others, and its delivery is acknowledged only once its batch is stored, so a crash
 * loses nothing (the bus redelivers, and the repeat collapses).
 */
export class ClickHouseEventStore implements EventStore {
  readonly engine = 'clickhouse';
  private readonly client: ClickHouseClient;
  private migrated: Promise<void> | undefined;
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly settings: ClickHouseStoreSettings) {
    this.client = createClient({ url: settings.url, database: settings.database });
  }

  migrate(): Promise<void> {
    this.migrated ??= this.applyMigrations().catch((error: unknown) => {
      this.migrated = undefined;
      throw error;
    });
    return this.migrated;
  }

  async insert(row: EventRow, recordedAt: Date): Promise<'stored'> {
    await this.migrate();
    const record = {
      id: row.id,
      occurred_at: row.occurredAt.toISOString(),
      created_at: recordedAt.toISOString(),
      tenant_id: row.tenantId,
      type: row.type,
      user_id: row.userId,
      subject_id: row.subjectId,
      subject_ids: JSON.stringify(row.subjectIds),
      duration_ms: row.durationMs,
      status: row.status,
      tokens: row.tokens,
      payload: JSON.stringify(row.payload),
    };
    await new Promise<void>((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      if (this.waiting.length >= this.settings.batchSize) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.settings.flushIntervalMs);
    });
    return 'stored';
  }

  async activeUsers(query: EventQuery, bucket: Bucket): Promise<BucketValue[]> {
    return bucketsOf(
      await this.rows(
        `SELECT ${BUCKET_START[bucket]} AS bucket_s, uniqExact(user_id) AS metric_value
         FROM analytics_events FINAL WHERE ${IN_PERIOD} AND user_id IS NOT NULL
         GROUP BY bucket_s ORDER BY bucket_s`,
        query,
      ),
    );
  }

  async executionsByDay(query: EventQuery): Promise<ExecutionsOfDay[]> {
    const rows = await this.rows<{ day_s: Integer; execution_status: string; executions: Integer }>(
      `SELECT ${BUCKET_START.DAY} AS day_s, upper(splitByChar('.', type)[3]) AS execution_status, count() AS executions
       FROM analytics_events FINAL WHERE ${IN_PERIOD} AND type IN {types:Array(String)}
       GROUP BY day_s, execution_status ORDER BY day_s, execution_status`,
      query,
      { types: ENDED_EXECUTIONS },
    );
    return rows.map((row) => ({ day: new Date(Number(row.day_s) * 1000), status: row.execution_status, count: Number(row.executions) }));
  }

  async executionDurations(query: EventQuery): Promise<ExecutionDurations> {
    // The start must not be after the end: an equality join with the condition applied after it, as ClickHouse
    // joins on equalities; the started side has one row per execution, so no end is counted twice.
    // quantilesExactInclusive interpolates as percentile_cont does.
    const [row] = await this.rows<{ measured: Integer; percentiles: number[] }>(
      `SELECT count() AS measured, quantilesExactInclusive(0.5, 0.95)(ms) AS percentiles
       FROM (
         SELECT coalesce(
             toFloat64(ended.duration_ms),
             if(started.started_at <= ended.occurred_at,
               toFloat64(toUnixTimestamp64Milli(ended.occurred_at) - toUnixTimestamp64Milli(started.started_at)), NULL)) AS ms
         FROM (
           SELECT subject_id, occurred_at, duration_ms FROM analytics_events FINAL
           WHERE ${IN_PERIOD} AND type IN {measured:Array(String)}
         ) AS ended
         LEFT JOIN (
           SELECT subject_id, min(occurred_at) AS started_at FROM analytics_events FINAL
           WHERE tenant_id = {tenant_id:UUID} AND type = {started:String} AND occurred_at < {to:DateTime64(3)}
             AND subject_id IN (
               SELECT subject_id FROM analytics_events FINAL WHERE ${IN_PERIOD} AND type IN {measured:Array(String)})
           GROUP BY subject_id
         ) AS started ON started.subject_id = ended.subject_id
       )
       WHERE ms IS NOT NULL`,
      query,
      { measured: MEASURED_EXECUTIONS, started: EventType.ExecutionStarted },
      // An execution with no start joins NULLs, not the type's defaults (0, the epoch), which would pass for a start.
      { join_use_nulls: 1 },
    );
    const count = Number(row?.measured ?? 0);
    // Over no rows, ClickHouse's quantiles are NaN where PostgreSQL's are null.
    const [p50, p95] = row?.percentiles ?? [];
    return { count, p50Ms: count === 0 ? null : Number(p50), p95Ms: count === 0 ? null : Number(p95) };
  }

  async totals(query: EventQuery): Promise<UsageTotals> {
    const [row] = await this.rows<{ ai_tokens: Integer; syncs_completed: Integer; syncs_failed: Integer }>(
      `SELECT sumIf(ifNull(tokens, 0), type = {ai:String}) AS ai_tokens,
         countIf(type = {sync_completed:String}) AS syncs_completed, countIf(type = {sync_failed:String}) AS syncs_failed
       FROM analytics_events FINAL WHERE ${IN_PERIOD} AND type IN ({ai:String}, {sync_completed:String}, {sync_failed:String})`,
      query,
      { ai: EventType.AiUsageRecorded, sync_completed: EventType.SyncCompleted, sync_failed: EventType.SyncFailed },
    );
    return {
      aiTokens: Number(row?.ai_tokens ?? 0),
      integrationSyncs: { completed: Number(row?.syncs_completed ?? 0), failed: Number(row?.syncs_failed ?? 0) },
    };
  }

  async dashboard(query: EventQuery, metric: DashboardMetric, bucket: Bucket): Promise<BucketValue[]> {
    const { aggregate, types } = DASHBOARD_METRICS[metric];
    const values = bucketsOf(
      await this.rows(
        `SELECT ${BUCKET_START[bucket]} AS bucket_s, ${AGGREGATES[aggregate]} AS metric_value
         FROM analytics_events FINAL WHERE ${IN_PERIOD} ${types ? 'AND type IN {types:Array(String)}' : ''}
         GROUP BY bucket_s ORDER BY bucket_s`,
        query,
        types ? { types } : {},
      ),
    );
    return everyBucket(query.from, query.to, bucket, values);
  }

  async cohortCounts(query: EventQuery): Promise<CohortCount[]> {
    const parameters = { registered: EventType.UserRegistered };
    const [sizes, activity] = await Promise.all([
      this.rows<{ week_s: Integer; users: Integer }>(
        `SELECT toUnixTimestamp(signup_week) AS week_s, count() AS users FROM (${SIGNUPS}) GROUP BY week_s`,
        query,
        parameters,
      ),
      // A user counts once a week whatever they did; the join is on the user, its time condition applied after it.
      this.rows<{ week_s: Integer; weeks_since: Integer; users: Integer }>(
        `WITH signups AS (${SIGNUPS})
         SELECT week_s, weeks_since, count() AS users FROM (
           SELECT DISTINCT toUnixTimestamp(s.signup_week) AS week_s, s.signup_user AS active_user,
             intDiv(toUnixTimestamp64Milli(e.occurred_at) - toInt64(toUnixTimestamp(s.signup_week)) * 1000, 604800000) AS weeks_since
           FROM signups AS s
           INNER JOIN (
             SELECT assumeNotNull(user_id) AS actor, occurred_at FROM analytics_events FINAL
             WHERE tenant_id = {tenant_id:UUID} AND occurred_at < {to:DateTime64(3)} AND user_id IS NOT NULL
               AND user_id IN (SELECT signup_user FROM signups)
           ) AS e ON e.actor = s.signup_user
           WHERE e.occurred_at >= s.signup_week
         )
         GROUP BY week_s, weeks_since`,
        query,
        parameters,
      ),
    ]);
    return [
      ...sizes.map((row) => ({ week: new Date(Number(row.week_s) * 1000), weeksSince: null, users: Number(row.users) })),
      ...activity.map((row) => ({
        week: new Date(Number(row.week_s) * 1000),
        weeksSince: Number(row.weeks_since),
        users: Number(row.users),
      })),
    ];
  }

  async count(query: EventQuery): Promise<number> {
    const [row] = await this.rows<{ events: Integer }>(`SELECT count() AS events FROM analytics_events FINAL WHERE ${IN_PERIOD}`, query);
    return Number(row?.events ?? 0);
  }

  async list(query: EventQuery, type: string | null, limit: number): Promise<StoredEvent[]> {
    const rows = await this.rows<EventRecord>(
      `SELECT ${ROW_COLUMNS} FROM analytics_events FINAL WHERE ${IN_PERIOD} ${type ? 'AND type = {type:String}' : ''}
       ORDER BY occurred_at DESC, id DESC LIMIT ${EVENT_PAGE_LIMIT}`,
      query,
      type ? { type } : {},
    );
    return rows.slice(0, limit).map(storedEvent);
  }

  async byIds(scope: TenantScope, ids: readonly string[]): Promise<StoredEvent[]> {
    if (scope.kind === 'tenant' && scope.tenantId === null) return [];
    await this.migrate();
    const result = await this.client.query({
      query: `SELECT ${ROW_COLUMNS} FROM analytics_events FINAL
        WHERE id IN {ids:Array(UUID)} ${scope.kind === 'tenant' ? 'AND tenant_id = {tenant_id:UUID}' : ''}`,
      query_params: { ids, ...(scope.kind === 'tenant' ? { tenant_id: scope.tenantId } : {}) },
      format: 'JSONEachRow',
    });
    return (await result.json<EventRecord>()).map(storedEvent);
  }

  async exportBatch(query: EventQuery, after: ExportCursor | undefined): Promise<StoredEvent[]> {
    const rows = await this.rows<EventRecord>(
      `SELECT ${ROW_COLUMNS} FROM analytics_events FINAL WHERE ${IN_PERIOD}
         ${after ? 'AND (occurred_at, id) > ({after_at:DateTime64(3)}, {after_id:UUID})' : ''}
       ORDER BY occurred_at, id LIMIT ${EXPORT_BATCH}`,
      query,
      after ? { after_at: after.occurredAt, after_id: after.id } : {},
    );
    return rows.map(storedEvent);
  }

  readonly ping = async (): Promise<void> => {
    const result = await this.client.ping();
    if (!result.success) throw result.error;
  };

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.flush();
    await this.client.close();
  }

  /** Sends the waiting rows as one JSONEachRow insert, and settles each row's delivery with its outcome. */
  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    try {
      await this.client.insert({
        table: 'analytics_events',
        values: batch.map(({ record }) => record),
        format: 'JSONEachRow',
        clickhouse_settings: { date_time_input_format: 'best_effort' },
      });
      for (const { resolve } of batch) resolve();
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }

  private async rows<Row>(
    sql: string,
    query: EventQuery,
    parameters: Record<string, unknown> = {},
    settings: ClickHouseSettings = {},
  ): Promise<Row[]> {
    await this.migrate();
    const result = await this.client.query({
      query: sql,
      query_params: { tenant_id: query.tenantId, from: query.from, to: query.to, ...parameters },
      format: 'JSONEachRow',
      clickhouse_settings: settings,
    });
    return result.json<Row>();
  }

  private async applyMigrations(): Promise<void> {
    const { database } = this.settings;
    // The database may not exist yet, and a client bound to a missing database cannot make it.
    const server = createClient({ url: this.settings.url });
    try {
      await server.command({ query: `CREATE DATABASE IF NOT EXISTS \`${database}\`` });
    } finally {
      await server.close();
    }
    await this.client.command({ query: VERSIONS_TABLE });
    const applied = await this.client.query({ query: 'SELECT version FROM analytics_schema_versions FINAL', format: 'JSONEachRow' });
    const versions = new Set((await applied.json<{ version: number }>()).map(({ version }) => Number(version)));
    for (const migration of MIGRATIONS) {
      if (versions.has(migration.version)) continue;
      // Every statement is idempotent, so two replicas starting at once both succeed.
      for (const statement of migration.statements) await this.client.command({ query: statement });
      await this.client.insert({
        table: 'analytics_schema_versions',
        values: [{ version: migration.version, name: migration.name }],
        format: 'JSONEachRow',
      });
    }
  }
}
