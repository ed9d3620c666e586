import { utcDay, type EntityManager, type HealthCheck, type TenantScope } from '@nexusflow/kit';
import { EventType, type EventRow } from './events.ts';
import type { Bucket } from './periods.ts';

export type DashboardMetric = 'EVENTS' | 'ACTIVE_USERS' | 'EXECUTIONS' | 'FAILED_EXECUTIONS' | 'AI_TOKENS' | 'INTEGRATION_SYNCS';

/** Executions that ended, in any way. */
export const ENDED_EXECUTIONS = [EventType.ExecutionCompleted, EventType.ExecutionFailed, EventType.ExecutionCancelled];
/** The executions that have a duration: a cancelled one has none worth measuring. */
export const MEASURED_EXECUTIONS = [EventType.ExecutionCompleted, EventType.ExecutionFailed];
/** Integration syncs that ended. */
export const ENDED_SYNCS = [EventType.SyncCompleted, EventType.SyncFailed];

/** The rows each dashboard metric adds up (all when none are named) and how: counted, distinct users, or summed tokens. */
export const DASHBOARD_METRICS: Record<DashboardMetric, { aggregate: 'count' | 'distinctUsers' | 'tokens'; types?: readonly string[] }> = {
  EVENTS: { aggregate: 'count' },
  ACTIVE_USERS: { aggregate: 'distinctUsers' },
  EXECUTIONS: { aggregate: 'count', types: ENDED_EXECUTIONS },
  FAILED_EXECUTIONS: { aggregate: 'count', types: [EventType.ExecutionFailed] },
  AI_TOKENS: { aggregate: 'tokens', types: [EventType.AiUsageRecorded] },
  INTEGRATION_SYNCS: { aggregate: 'count', types: ENDED_SYNCS },
};

/** The most events one read of the event log or one batch of an export returns. */
export const EVENT_PAGE_LIMIT = 100;
export const EXPORT_BATCH = 1000;

/** One tenant's events of a period: what every read of a store names, so that no read crosses tenants. */
export interface EventQuery {
  tenantId: string;
  from: Date;
  to: Date;
  /**
   * The caller's unit of work (a request's, or a system fork): the store on the service's own database reads in it;
   * a store on a database of its own has its own connection and ignores it.
   */
  em?: EntityManager;
}

export interface BucketValue {
  start: Date;
  value: number;
}

export interface ExecutionsOfDay {
  day: Date;
  status: string;
  count: number;
}

export interface ExecutionDurations {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface UsageTotals {
  aiTokens: number;
  integrationSyncs: { completed: number; failed: number };
}

/** One cell of the sign-up cohorts: the users of a sign-up week, in all (`weeksSince` null) or active `weeksSince` weeks later. */
export interface CohortCount {
  week: Date;
  weeksSince: number | null;
  users: number;
}

/** An event as a store holds it. */
export interface StoredEvent extends EventRow {
  /** When analytics stored it. */
  createdAt: Date;
}

/** Where an export batch starts: after this event, in order of time then id. */
export interface ExportCursor {
  occurredAt: Date;
  id: string;
}

/**
 * Where analytics keeps the events of the bus and how it reads them: every aggregate the API answers, so that each
 * store answers the same events with the same figures (the contract test holds them to it). Buckets are UTC; weeks
 * start on Monday.
 */
export interface EventStore {
  readonly engine: 'postgresql' | 'clickhouse';
  /** Makes the store's schema, once; queries wait for it. */
  migrate(): Promise<void>;
  /**
   * Stores an event; a redelivery (the same id) counts once. 'alreadyStored' when the store can tell at once that it
   * has it (PostgreSQL); a store that collapses repeats when reading (ClickHouse) answers 'stored' for both.
   */
  insert(row: EventRow, recordedAt: Date): Promise<'stored' | 'alreadyStored'>;
  /** Distinct acting users per bucket, buckets with events only. */
  activeUsers(query: EventQuery, bucket: Bucket): Promise<BucketValue[]>;
  executionsByDay(query: EventQuery): Promise<ExecutionsOfDay[]>;
  /**
   * Durations of the executions that ended in the period: the duration an event reports, else the time from the
   * execution's first start (which may be before the period) to its end. Percentiles interpolate (percentile_cont).
   */
  executionDurations(query: EventQuery): Promise<ExecutionDurations>;
  totals(query: EventQuery): Promise<UsageTotals>;
  /** Every bucket of the period, the empty ones as zero, the first one starting where `from`'s bucket starts. */
  dashboard(query: EventQuery, metric: DashboardMetric, bucket: Bucket): Promise<BucketValue[]>;
  /** The sign-ups of the period by week, and their activity in each week since, up to the end of the period. */
  cohortCounts(query: EventQuery): Promise<CohortCount[]>;
  count(query: EventQuery): Promise<number>;
  /** The newest events of the period first, at most `limit` (up to {@link EVENT_PAGE_LIMIT}), of one type when named. */
  list(query: EventQuery, type: string | null, limit: number): Promise<StoredEvent[]>;
  /** The events of these ids that a tenant scope sees: its tenant's, none for no tenant, all for system work. */
  byIds(scope: TenantScope, ids: readonly string[]): Promise<StoredEvent[]>;
  /** Up to {@link EXPORT_BATCH} events after `after`, in order of time then id. */
  exportBatch(query: EventQuery, after: ExportCursor | undefined): Promise<StoredEvent[]>;
  /** Whether the store answers; for readiness. */
  ping: HealthCheck;
  close(): Promise<void>;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The UTC start of the bucket `at` falls in; weeks start on Monday. */
export function bucketStart(at: Date, bucket: Bucket): Date {
  const year = at.getUTCFullYear();
  const month = at.getUTCMonth();
  switch (bucket) {
    case 'HOUR':
      return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
    case 'DAY':
      return utcDay(year, month, at.getUTCDate());
    case 'WEEK':
      return new Date(utcDay(year, month, at.getUTCDate()).getTime() - ((at.getUTCDay() + 6) % 7) * DAY_MS);
    case 'MONTH':
      return utcDay(year, month, 1);
  }
}

function nextBucket(start: Date, bucket: Bucket): Date {
  if (bucket === 'MONTH') return utcDay(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
  return new Date(start.getTime() + { HOUR: HOUR_MS, DAY: DAY_MS, WEEK: 7 * DAY_MS }[bucket]);
}

/** Every bucket from the one `from` falls in to the one before `to`, each with its value or zero. */
export function everyBucket(from: Date, to: Date, bucket: Bucket, values: BucketValue[]): BucketValue[] {
  const byStart = new Map(values.map(({ start, value }) => [start.getTime(), value]));
  const buckets: BucketValue[] = [];
  for (let start = bucketStart(from, bucket); start < to; start = nextBucket(start, bucket))
    buckets.push({ start, value: byStart.get(start.getTime()) ?? 0 });
  return buckets;
}
