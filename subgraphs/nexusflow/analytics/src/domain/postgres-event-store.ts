import { GroupCommit, systemFork, type EntityManager, type Forkable, type TenantScope } from '@nexusflow/kit';
import { AnalyticsEvent } from '../entities/analytics-event.entity.ts';
import {
  DASHBOARD_METRICS,
  ENDED_EXECUTIONS,
  EVENT_PAGE_LIMIT,
  EXPORT_BATCH,
  MEASURED_EXECUTIONS,
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
import { monthStart, type MonthlyPartitions } from './partitions.ts';
import { truncField, type Bucket } from './periods.ts';

/** Rows inserted at once, each with its values (`?::jsonb` for the JSON columns); returns the keys of those inserted. */
const insertSql = (rows: number) => `insert into "analytics_events" ("id", "occurred_at", "created_at", "tenant_id", "type", "user_id",
  "subject_id", "subject_ids", "duration_ms", "status", "tokens", "payload")
  values ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?::jsonb)').join(', ')}
  on conflict ("id", "occurred_at") do nothing returning "id", "occurred_at"`;

type Inserted = 'stored' | 'alreadyStored';

/** An event by its key: its id and time (a redelivery has both). */
const keyOf = (id: string, occurredAt: Date | string) => `${id}@${new Date(occurredAt).getTime()}`;

/** PostgreSQL's code for a row no partition accepts: its month's partition was dropped (or never made) since it was checked. */
const NO_PARTITION = '23514';

/** How each dashboard aggregate reads over a bucket's rows of `analytics_events` (alias `e`). */
const AGGREGATES = {
  count: 'count(*)',
  distinctUsers: 'count(distinct e."user_id")',
  tokens: 'coalesce(sum(e."tokens"), 0)',
} as const;

const COLUMNS = `"id", "occurred_at", "created_at", "tenant_id", "type", "user_id", "subject_id", "subject_ids", "duration_ms", "status",
  "tokens", "payload"`;

interface StoredRow {
  id: string;
  occurred_at: Date | string;
  created_at: Date | string;
  tenant_id: string;
  type: string;
  user_id: string | null;
  subject_id: string | null;
  subject_ids: unknown;
  duration_ms: string | number | null;
  status: string | null;
  tokens: string | number | null;
  payload: unknown;
}

const typeList = (types: readonly string[]) => types.map(() => '?').join(', ');
const bucketsOf = (rows: { start: Date | string; value: string | number }[]): BucketValue[] =>
  rows.map(({ start, value }) => ({ start: new Date(start), value: Number(value) }));
const json = <T>(value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value) as T;
const numberOrNull = (value: string | number | null) => (value === null ? null : Number(value));

function storedEvent(row: StoredRow): StoredEvent {
  return {
    id: row.id,
    occurredAt: new Date(row.occurred_at),
    createdAt: new Date(row.created_at),
    tenantId: row.tenant_id,
    type: row.type,
    userId: row.user_id,
    subjectId: row.subject_id,
    subjectIds: json(row.subject_ids),
    durationMs: numberOrNull(row.duration_ms),
    status: row.status,
    tokens: numberOrNull(row.tokens),
    payload: json(row.payload),
  };
}

function eventOf(entity: AnalyticsEvent): StoredEvent {
  return {
    id: entity.id,
    occurredAt: entity.occurredAt,
    createdAt: entity.createdAt,
    tenantId: entity.tenantId,
    type: entity.type,
    userId: entity.userId ?? null,
    subjectId: entity.subjectId ?? null,
    subjectIds: entity.subjectIds,
    durationMs: entity.durationMs ?? null,
    status: entity.status ?? null,
    tokens: entity.tokens ?? null,
    payload: entity.payload,
  };
}

/**
 * The events in the service's own database (PostgreSQL, or PGlite embedded): `analytics_events`, partitioned by
 * month. Every query names the tenant and the period, so that PostgreSQL reads the period's monthly partitions only,
 * through the (tenant, type, time) index. Each event is its row, so a redelivery is refused by the primary key.
 */
export class PostgresEventStore implements EventStore {
  readonly engine = 'postgresql';
  /** The events that arrive together are inserted together: one statement, not one each. */
  private readonly inserts = new GroupCommit<{ row: EventRow; recordedAt: Date }, Inserted>((events) => this.insertAll(events), {
    name: 'analytics insert',
  });

  constructor(
    private readonly database: Forkable,
    private readonly partitions: MonthlyPartitions,
  ) {}

  /** The schema is the subgraph's MikroORM migrations, applied before the service starts. */
  async migrate(): Promise<void> {}

  insert(row: EventRow, recordedAt: Date): Promise<Inserted> {
    return this.inserts.add({ row, recordedAt });
  }

  private async insertAll(events: readonly { row: EventRow; recordedAt: Date }[]): Promise<Inserted[]> {
    const em = systemFork(this.database);
    const months = [...new Map(events.map(({ row }) => [monthStart(row.occurredAt).getTime(), row.occurredAt])).values()];
    for (const month of months) await this.partitions.ensureFor(em, month);
    const values = events.flatMap(({ row, recordedAt }) => [
      row.id,
      row.occurredAt,
      recordedAt,
      row.tenantId,
      row.type,
      row.userId,
      row.subjectId,
      JSON.stringify(row.subjectIds),
      row.durationMs,
      row.status,
      row.tokens,
      JSON.stringify(row.payload),
    ]);
    const run = () => em.execute<{ id: string; occurred_at: Date | string }[]>(insertSql(events.length), values);
    let inserted: { id: string; occurred_at: Date | string }[];
    try {
      inserted = await run();
    } catch (error) {
      if ((error as { code?: string }).code !== NO_PARTITION) throw error;
      for (const month of months) await this.partitions.remake(em, month);
      inserted = await run();
    }
    // An event delivered twice in one batch is stored once: the first stands for it.
    const stored = new Set(inserted.map((row) => keyOf(row.id, row.occurred_at)));
    return events.map(({ row }) => (stored.delete(keyOf(row.id, row.occurredAt)) ? 'stored' : 'alreadyStored'));
  }

  async activeUsers(query: EventQuery, bucket: Bucket): Promise<BucketValue[]> {
    const field = truncField(bucket);
    const rows = await this.em(query).execute<{ start: Date; value: string }[]>(
      `select date_trunc('${field}', "occurred_at", 'UTC') as "start", count(distinct "user_id") as "value" from "analytics_events"
       where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "user_id" is not null
       group by 1 order by 1`,
      [query.tenantId, query.from, query.to],
    );
    return bucketsOf(rows);
  }

  async executionsByDay(query: EventQuery): Promise<ExecutionsOfDay[]> {
    const rows = await this.em(query).execute<{ day: Date; status: string; count: string }[]>(
      `select date_trunc('day', "occurred_at", 'UTC') as "day", upper(split_part("type", '.', 3)) as "status", count(*) as "count"
       from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "type" in (${typeList(ENDED_EXECUTIONS)})
       group by 1, 2 order by 1, 2`,
      [query.tenantId, query.from, query.to, ...ENDED_EXECUTIONS],
    );
    return rows.map(({ day, status, count }) => ({ day: new Date(day), status, count: Number(count) }));
  }

  async executionDurations(query: EventQuery): Promise<ExecutionDurations> {
    const { tenantId, from, to } = query;
    const [row] = await this.em(query).execute<{ count: string; p50: number | null; p95: number | null }[]>(
      `with "ended" as (
         select "subject_id", "occurred_at", "duration_ms" from "analytics_events"
         where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "type" in (${typeList(MEASURED_EXECUTIONS)})),
       "started" as (
         select "subject_id", min("occurred_at") as "at" from "analytics_events"
         where "tenant_id" = ? and "type" = ? and "occurred_at" < ? and "subject_id" in (select "subject_id" from "ended")
         group by "subject_id"),
       "durations" as (
         select coalesce(x."duration_ms"::float8, extract(epoch from x."occurred_at" - s."at") * 1000) as "ms"
         from "ended" x left join "started" s on s."subject_id" = x."subject_id" and s."at" <= x."occurred_at")
       select count("ms") as "count",
         percentile_cont(0.5) within group (order by "ms") as "p50",
         percentile_cont(0.95) within group (order by "ms") as "p95"
       from "durations" where "ms" is not null`,
      [tenantId, from, to, ...MEASURED_EXECUTIONS, tenantId, EventType.ExecutionStarted, to],
    );
    return {
      count: Number(row?.count ?? 0),
      p50Ms: row?.p50 === null || row?.p50 === undefined ? null : Number(row.p50),
      p95Ms: row?.p95 === null || row?.p95 === undefined ? null : Number(row.p95),
    };
  }

  async totals(query: EventQuery): Promise<UsageTotals> {
    const [row] = await this.em(query).execute<{ tokens: string; completed: string; failed: string }[]>(
      `select coalesce(sum("tokens") filter (where "type" = ?), 0) as "tokens",
         count(*) filter (where "type" = ?) as "completed", count(*) filter (where "type" = ?) as "failed"
       from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "type" in (?, ?, ?)`,
      [
        EventType.AiUsageRecorded,
        EventType.SyncCompleted,
        EventType.SyncFailed,
        query.tenantId,
        query.from,
        query.to,
        EventType.AiUsageRecorded,
        EventType.SyncCompleted,
        EventType.SyncFailed,
      ],
    );
    return {
      aiTokens: Number(row?.tokens ?? 0),
      integrationSyncs: { completed: Number(row?.completed ?? 0), failed: Number(row?.failed ?? 0) },
    };
  }

  async dashboard(query: EventQuery, metric: DashboardMetric, bucket: Bucket): Promise<BucketValue[]> {
    const { aggregate, types } = DASHBOARD_METRICS[metric];
    const field = truncField(bucket);
    const rows = await this.em(query).execute<{ start: Date; value: string }[]>(
      `with "buckets" as (
         select generate_series(date_trunc('${field}', ?::timestamptz, 'UTC'), ?::timestamptz - interval '1 microsecond', interval '1 ${field}') as "start"),
       "values" as (
         select date_trunc('${field}', e."occurred_at", 'UTC') as "start", ${AGGREGATES[aggregate]} as "value" from "analytics_events" e
         where e."tenant_id" = ? and e."occurred_at" >= ? and e."occurred_at" < ?
           ${types ? `and e."type" in (${typeList(types)})` : ''}
         group by 1)
       select b."start", coalesce(v."value", 0) as "value" from "buckets" b left join "values" v on v."start" = b."start" order by b."start"`,
      [query.from, query.to, query.tenantId, query.from, query.to, ...(types ?? [])],
    );
    return bucketsOf(rows);
  }

  async cohortCounts(query: EventQuery): Promise<CohortCount[]> {
    const rows = await this.em(query).execute<{ week: Date; weeks_since: number | null; users: string }[]>(
      `with "signups" as (
         select "user_id", date_trunc('week', min("occurred_at"), 'UTC') as "week" from "analytics_events"
         where "tenant_id" = ? and "type" = ? and "occurred_at" >= ? and "occurred_at" < ? and "user_id" is not null
         group by "user_id"),
       "activity" as (
         select distinct s."week", s."user_id", floor(extract(epoch from e."occurred_at" - s."week") / 604800)::int as "weeks_since"
         from "signups" s join "analytics_events" e
           on e."tenant_id" = ? and e."user_id" = s."user_id" and e."occurred_at" >= s."week" and e."occurred_at" < ?)
       select "week", null as "weeks_since", count(*) as "users" from "signups" group by "week"
       union all
       select "week", "weeks_since", count(*) as "users" from "activity" group by "week", "weeks_since"`,
      [query.tenantId, EventType.UserRegistered, query.from, query.to, query.tenantId, query.to],
    );
    return rows.map(({ week, weeks_since, users }) => ({ week: new Date(week), weeksSince: weeks_since, users: Number(users) }));
  }

  async count(query: EventQuery): Promise<number> {
    const [counted] = await this.em(query).execute<{ count: string }[]>(
      `select count(*) as "count" from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ?`,
      [query.tenantId, query.from, query.to],
    );
    return Number(counted?.count ?? 0);
  }

  async list(query: EventQuery, type: string | null, limit: number): Promise<StoredEvent[]> {
    const events = await this.em(query).find(
      AnalyticsEvent,
      { tenantId: query.tenantId, occurredAt: { $gte: query.from, $lt: query.to }, ...(type ? { type } : {}) },
      { orderBy: { occurredAt: 'desc', id: 'desc' }, limit: Math.min(limit, EVENT_PAGE_LIMIT) },
    );
    return events.map(eventOf);
  }

  async byIds(scope: TenantScope, ids: readonly string[]): Promise<StoredEvent[]> {
    if (scope.kind === 'tenant' && scope.tenantId === null) return [];
    const tenant = scope.kind === 'tenant' ? { tenantId: scope.tenantId! } : {};
    return (await systemFork(this.database).find(AnalyticsEvent, { id: { $in: [...ids] }, ...tenant })).map(eventOf);
  }

  async exportBatch(query: EventQuery, after: ExportCursor | undefined): Promise<StoredEvent[]> {
    const rows = await this.em(query).execute<StoredRow[]>(
      `select ${COLUMNS} from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ?
         ${after ? 'and ("occurred_at", "id") > (?, ?)' : ''}
       order by "occurred_at", "id" limit ${EXPORT_BATCH}`,
      [query.tenantId, query.from, query.to, ...(after ? [after.occurredAt, after.id] : [])],
    );
    return rows.map(storedEvent);
  }

  readonly ping = async (): Promise<void> => {
    await systemFork(this.database).execute('select 1');
  };

  /** The service's database closes with the service. */
  async close(): Promise<void> {}

  private em(query: EventQuery): EntityManager {
    return query.em ?? systemFork(this.database);
  }
}
