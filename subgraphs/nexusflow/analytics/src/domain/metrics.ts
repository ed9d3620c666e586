import { requireRole, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import { EventType } from './events.ts';
import { checkedBuckets, checkedPeriod, truncField, type Bucket, type Period } from './periods.ts';

export const ANALYST_ROLES = [Role.Owner, Role.Admin] as const;

export type DashboardMetric = 'EVENTS' | 'ACTIVE_USERS' | 'EXECUTIONS' | 'FAILED_EXECUTIONS' | 'AI_TOKENS' | 'INTEGRATION_SYNCS';

export interface BucketValue {
  start: Date;
  value: number;
}

export interface UsageMetrics extends Period {
  activeUsers: { daily: BucketValue[]; weekly: BucketValue[]; monthly: BucketValue[] };
  executionsByDay: { day: Date; status: string; count: number }[];
  executionDurations: { count: number; p50Ms: number | null; p95Ms: number | null };
  aiTokens: number;
  integrationSyncs: { completed: number; failed: number };
}

const ENDED_EXECUTIONS = [EventType.ExecutionCompleted, EventType.ExecutionFailed, EventType.ExecutionCancelled];
const ENDED_SYNCS = [EventType.SyncCompleted, EventType.SyncFailed];

/** What each dashboard metric adds up over a bucket's rows of `analytics_events` (alias `e`). */
const DASHBOARD_METRICS: Record<DashboardMetric, { value: string; types?: readonly string[] }> = {
  EVENTS: { value: 'count(*)' },
  ACTIVE_USERS: { value: 'count(distinct e."user_id")' },
  EXECUTIONS: { value: 'count(*)', types: ENDED_EXECUTIONS },
  FAILED_EXECUTIONS: { value: 'count(*)', types: [EventType.ExecutionFailed] },
  AI_TOKENS: { value: 'coalesce(sum(e."tokens"), 0)', types: [EventType.AiUsageRecorded] },
  INTEGRATION_SYNCS: { value: 'count(*)', types: ENDED_SYNCS },
};

const typeList = (types: readonly string[]) => types.map(() => '?').join(', ');
const bucketsOf = (rows: { start: Date | string; value: string | number }[]): BucketValue[] =>
  rows.map(({ start, value }) => ({ start: new Date(start), value: Number(value) }));

/**
 * Usage and dashboards of one tenant, as aggregates over its events. Every query names the tenant and the period, so
 * that PostgreSQL reads the period's monthly partitions only, through the (tenant, type, time) index. Buckets are UTC.
 */
export class UsageQueries {
  async usage(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<UsageMetrics> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    const [daily, weekly, monthly, executionsByDay, executionDurations, totals] = await Promise.all([
      this.activeUsers(em, tenantId, period, 'DAY'),
      this.activeUsers(em, tenantId, period, 'WEEK'),
      this.activeUsers(em, tenantId, period, 'MONTH'),
      this.executionsByDay(em, tenantId, period),
      this.executionDurations(em, tenantId, period),
      this.totals(em, tenantId, period),
    ]);
    return { ...period, activeUsers: { daily, weekly, monthly }, executionsByDay, executionDurations, ...totals };
  }

  async dashboard(
    em: EntityManager,
    identity: Identity,
    metric: DashboardMetric,
    bucket: Bucket,
    from: Date,
    to: Date,
  ): Promise<BucketValue[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    checkedBuckets(period, bucket);
    const { value, types } = DASHBOARD_METRICS[metric];
    const field = truncField(bucket);
    // Every bucket of the period, so that a chart shows the empty ones as zero rather than skipping them.
    const rows = await em.execute<{ start: Date; value: string }[]>(
      `with "buckets" as (
         select generate_series(date_trunc('${field}', ?::timestamptz, 'UTC'), ?::timestamptz - interval '1 microsecond', interval '1 ${field}') as "start"),
       "values" as (
         select date_trunc('${field}', e."occurred_at", 'UTC') as "start", ${value} as "value" from "analytics_events" e
         where e."tenant_id" = ? and e."occurred_at" >= ? and e."occurred_at" < ?
           ${types ? `and e."type" in (${typeList(types)})` : ''}
         group by 1)
       select b."start", coalesce(v."value", 0) as "value" from "buckets" b left join "values" v on v."start" = b."start" order by b."start"`,
      [period.from, period.to, tenantId, period.from, period.to, ...(types ?? [])],
    );
    return bucketsOf(rows);
  }

  private async activeUsers(em: EntityManager, tenantId: string, period: Period, bucket: Bucket): Promise<BucketValue[]> {
    const field = truncField(bucket);
    const rows = await em.execute<{ start: Date; value: string }[]>(
      `select date_trunc('${field}', "occurred_at", 'UTC') as "start", count(distinct "user_id") as "value" from "analytics_events"
       where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "user_id" is not null
       group by 1 order by 1`,
      [tenantId, period.from, period.to],
    );
    return bucketsOf(rows);
  }

  private async executionsByDay(em: EntityManager, tenantId: string, period: Period): Promise<UsageMetrics['executionsByDay']> {
    const rows = await em.execute<{ day: Date; status: string; count: string }[]>(
      `select date_trunc('day', "occurred_at", 'UTC') as "day", upper(split_part("type", '.', 3)) as "status", count(*) as "count"
       from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "type" in (${typeList(ENDED_EXECUTIONS)})
       group by 1, 2 order by 1, 2`,
      [tenantId, period.from, period.to, ...ENDED_EXECUTIONS],
    );
    return rows.map(({ day, status, count }) => ({ day: new Date(day), status, count: Number(count) }));
  }

  /**
   * Durations of the executions that ended in the period: the duration an event reports, else the time from the
   * execution's first start (which may be before the period) to its end.
   */
  private async executionDurations(em: EntityManager, tenantId: string, period: Period): Promise<UsageMetrics['executionDurations']> {
    const ended = [EventType.ExecutionCompleted, EventType.ExecutionFailed];
    const [row] = await em.execute<{ count: string; p50: number | null; p95: number | null }[]>(
      `with "ended" as (
         select "subject_id", "occurred_at", "duration_ms" from "analytics_events"
         where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "type" in (${typeList(ended)})),
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
      [tenantId, period.from, period.to, ...ended, tenantId, EventType.ExecutionStarted, period.to],
    );
    return {
      count: Number(row?.count ?? 0),
      p50Ms: row?.p50 === null || row?.p50 === undefined ? null : Number(row.p50),
      p95Ms: row?.p95 === null || row?.p95 === undefined ? null : Number(row.p95),
    };
  }

  private async totals(em: EntityManager, tenantId: string, period: Period): Promise<Pick<UsageMetrics, 'aiTokens' | 'integrationSyncs'>> {
    const [row] = await em.execute<{ tokens: string; completed: string; failed: string }[]>(
      `select coalesce(sum("tokens") filter (where "type" = ?), 0) as "tokens",
         count(*) filter (where "type" = ?) as "completed", count(*) filter (where "type" = ?) as "failed"
       from "analytics_events" where "tenant_id" = ? and "occurred_at" >= ? and "occurred_at" < ? and "type" in (?, ?, ?)`,
      [
        EventType.AiUsageRecorded,
        EventType.SyncCompleted,
        EventType.SyncFailed,
        tenantId,
        period.from,
        period.to,
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
}
