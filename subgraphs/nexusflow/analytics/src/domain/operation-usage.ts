import { badUserInput, isUuid, requireRole, systemFork, type EntityManager, type Forkable, type Identity } from '@nexusflow/kit';
import type { GraphQlOperationType, OperationUsageReportInput } from '../__generated__/resolvers-types.ts';
import { NO_TENANT } from '../entities/operation-usage.entity.ts';
import { ANALYST_ROLES } from './metrics.ts';
import { checkedPeriod } from './periods.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** The duration histogram's layout, the gateway's (gateway/src/features/usage-reporting.ts): buckets doubling in width. */
export const DURATION_BUCKETS = 20;
const MAX_OPERATIONS = 200;
const MAX_CLIENTS = 200;
const MAX_COORDINATES = 5000;
const MAX_DAYS = 366;

export interface ClientVersionUsage {
  clientName: string | null;
  clientVersion: string | null;
  count: number;
  lastSeenAt: Date;
}

export interface OperationUsageView {
  operationHash: string;
  operationName: string | null;
  operationType: GraphQlOperationType;
  count: number;
  errorCount: number;
  errorCodes: string[];
  averageDurationMs: number;
  p95DurationMs: number;
  lastSeenAt: Date;
  clients: ClientVersionUsage[];
}

export interface ClientUsageView {
  clientName: string | null;
  clientVersion: string | null;
  count: number;
  errorCount: number;
  operations: number;
  p95DurationMs: number;
  lastSeenAt: Date;
}

export interface CoordinateUsageView {
  coordinate: string;
  clients: ClientVersionUsage[];
}

/** The lower and upper bounds of bucket `index`, in milliseconds. */
function boundsOf(index: number): [number, number] {
  if (index === 0) return [0, 1];
  return [2 ** (index - 1), 2 ** index];
}

/** The `quantile` of a duration histogram, interpolated within its bucket: within a factor of two of the truth. */
export function quantileOf(buckets: readonly number[], quantile: number): number {
  const total = buckets.reduce((sum, count) => sum + count, 0);
  if (total === 0) return 0;
  const target = quantile * total;
  let below = 0;
  for (const [index, count] of buckets.entries()) {
    if (count > 0 && below + count >= target) {
      const [lower, upper] = boundsOf(index);
      return lower + ((target - below) / count) * (upper - lower);
    }
    below += count;
  }
  return boundsOf(buckets.length - 1)[1];
}

const textOrNull = (value: string) => (value === '' ? null : value);
const clientOf = (row: { client_name: string; client_version: string; count: string; last_seen_at: Date | string }) => ({
  clientName: textOrNull(row.client_name),
  clientVersion: textOrNull(row.client_version),
  count: Number(row.count),
  lastSeenAt: new Date(row.last_seen_at),
});

/** A period's hours: from the hour `from` falls in, to `to`. */
function hoursOf(from: Date, to: Date): { from: Date; to: Date } {
  const period = checkedPeriod(from, to);
  return { from: new Date(Math.floor(period.from.getTime() / HOUR_MS) * HOUR_MS), to: period.to };
}

interface OperationRow {
  tenant_id: string;
  hour: string;
  client_name: string;
  client_version: string;
  operation_hash: string;
  operation_name: string | null;
  operation_type: string;
  count: number;
  error_count: number;
  error_codes: string[];
  duration_ms_sum: number;
  duration_buckets: number[];
  last_seen_at: string;
}

interface CoordinateRow {
  tenant_id: string;
  day: string;
  coordinate: string;
  client_name: string;
  client_version: string;
  count: number;
  last_seen_at: string;
}

const UPSERT_OPERATIONS = `insert into "operation_usage" ("id", "tenant_id", "hour", "client_name", "client_version", "operation_hash",
    "operation_name", "operation_type", "count", "error_count", "error_codes", "duration_ms_sum", "duration_buckets", "last_seen_at")
  select gen_random_uuid(), r.* from jsonb_to_recordset(?::jsonb) as r("tenant_id" uuid, "hour" timestamptz, "client_name" text,
    "client_version" text, "operation_hash" text, "operation_name" text, "operation_type" text, "count" bigint, "error_count" bigint,
    "error_codes" jsonb, "duration_ms_sum" float8, "duration_buckets" jsonb, "last_seen_at" timestamptz)
  on conflict ("tenant_id", "hour", "client_name", "client_version", "operation_hash") do update set
    "operation_name" = excluded."operation_name",
    "count" = "operation_usage"."count" + excluded."count",
    "error_count" = "operation_usage"."error_count" + excluded."error_count",
    "error_codes" = (select coalesce(jsonb_agg(c order by c), '[]'::jsonb) from (
      select jsonb_array_elements_text("operation_usage"."error_codes") union select jsonb_array_elements_text(excluded."error_codes")) as codes(c)),
    "duration_ms_sum" = "operation_usage"."duration_ms_sum" + excluded."duration_ms_sum",
    "duration_buckets" = (select jsonb_agg(coalesce(a.v::bigint, 0) + coalesce(b.v::bigint, 0) order by coalesce(a.i, b.i))
      from jsonb_array_elements_text("operation_usage"."duration_buckets") with ordinality as a(v, i)
      full join jsonb_array_elements_text(excluded."duration_buckets") with ordinality as b(v, i) on a.i = b.i),
    "last_seen_at" = greatest("operation_usage"."last_seen_at", excluded."last_seen_at")`;

const UPSERT_COORDINATES = `insert into "coordinate_usage" ("id", "tenant_id", "day", "coordinate", "client_name", "client_version", "count",
    "last_seen_at")
  select gen_random_uuid(), r.* from jsonb_to_recordset(?::jsonb) as r("tenant_id" uuid, "day" timestamptz, "coordinate" text,
    "client_name" text, "client_version" text, "count" bigint, "last_seen_at" timestamptz)
  on conflict ("tenant_id", "day", "coordinate", "client_name", "client_version") do update set
    "count" = "coordinate_usage"."count" + excluded."count",
    "last_seen_at" = greatest("coordinate_usage"."last_seen_at", excluded."last_seen_at")`;

/**
 * The gateway's operation usage: reports added to hourly per-operation and daily per-coordinate aggregates, exactly
 * once per report id; read per tenant by its admins, and across tenants by the schema registry's checks.
 */
export class OperationUsageLog {
  constructor(
    private readonly database: Forkable,
    private readonly now: () => number,
  ) {}

  /** Counts each report once: in one transaction with its receipt, so that a retried delivery adds nothing. */
  async record(reports: readonly OperationUsageReportInput[]): Promise<{ recorded: number; alreadyRecorded: number }> {
    const ids = reports.map(({ id }) => String(id).toLowerCase());
    const invalid = ids.find((id) => !isUuid(id));
    if (invalid !== undefined) throw badUserInput('Every report id must be a UUID', { field: 'reports' });
    return systemFork(this.database).transactional(async (tx) => {
      const fresh = new Set(
        (
          await tx.execute<{ id: string }[]>(
            `insert into "usage_report_receipts" ("id", "received_at")
             select distinct r.id::uuid, ?::timestamptz from jsonb_array_elements_text(?::jsonb) as r(id)
             on conflict ("id") do nothing returning "id"`,
            [new Date(this.now()), JSON.stringify(ids)],
          )
        ).map(({ id }) => id),
      );
      const counted = reports.filter((_, index) => fresh.delete(ids[index]!));
      const { operations, coordinates } = rowsOf(counted);
      if (operations.length > 0) await tx.execute(UPSERT_OPERATIONS, [JSON.stringify(operations)], 'run');
      if (coordinates.length > 0) await tx.execute(UPSERT_COORDINATES, [JSON.stringify(coordinates)], 'run');
      return { recorded: counted.length, alreadyRecorded: reports.length - counted.length };
    });
  }

  /** The tenant's operations of the period, most called first, each with its clients, error codes and durations. */
  async operations(em: EntityManager, identity: Identity, from: Date, to: Date, first: number): Promise<OperationUsageView[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    if (!Number.isInteger(first) || first < 1 || first > MAX_OPERATIONS)
      throw badUserInput(`"first" must be between 1 and ${MAX_OPERATIONS}`, { field: 'first' });
    const period = hoursOf(from, to);
    const scope = `"tenant_id" = ? and "hour" >= ? and "hour" < ?`;
    const params = [tenantId, period.from, period.to];
    const totals = await em.execute<
      { hash: string; name: string | null; type: string; count: string; errors: string; duration: number; last_seen_at: Date }[]
    >(
      `select "operation_hash" as "hash", max("operation_name") as "name", max("operation_type") as "type", sum("count") as "count",
         sum("error_count") as "errors", sum("duration_ms_sum") as "duration", max("last_seen_at") as "last_seen_at"
       from "operation_usage" where ${scope} group by "operation_hash" order by 4 desc, 1 limit ?`,
      [...params, first],
    );
    if (totals.length === 0) return [];
    const hashes = JSON.stringify(totals.map(({ hash }) => hash));
    const chosen = `${scope} and "operation_hash" in (select jsonb_array_elements_text(?::jsonb))`;
    const [clients, buckets, codes] = await Promise.all([
      em.execute<{ key: string; client_name: string; client_version: string; count: string; last_seen_at: Date }[]>(
        `select "operation_hash" as "key", "client_name", "client_version", sum("count") as "count", max("last_seen_at") as "last_seen_at"
         from "operation_usage" where ${chosen} group by 1, 2, 3 order by 4 desc, 2, 3`,
        [...params, hashes],
      ),
      this.histograms(em, `"operation_hash"`, chosen, [...params, hashes]),
      em.execute<{ key: string; code: string }[]>(
        `select distinct "operation_hash" as "key", jsonb_array_elements_text("error_codes") as "code" from "operation_usage"
         where ${chosen} order by 1, 2`,
        [...params, hashes],
      ),
    ]);
    return totals.map((row) => {
      const count = Number(row.count);
      return {
        operationHash: row.hash,
        operationName: row.name,
        operationType: row.type as GraphQlOperationType,
        count,
        errorCount: Number(row.errors),
        errorCodes: codes.filter(({ key }) => key === row.hash).map(({ code }) => code),
        averageDurationMs: count === 0 ? 0 : Number(row.duration) / count,
        p95DurationMs: quantileOf(buckets.get(row.hash) ?? [], 0.95),
        lastSeenAt: new Date(row.last_seen_at),
        clients: clients.filter(({ key }) => key === row.hash).map(clientOf),
      };
    });
  }

  /** The tenant's clients (name and version) of the period, most calls first. */
  async clients(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<ClientUsageView[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = hoursOf(from, to);
    const scope = `"tenant_id" = ? and "hour" >= ? and "hour" < ?`;
    const params = [tenantId, period.from, period.to];
    const [rows, buckets] = await Promise.all([
      em.execute<{ client_name: string; client_version: string; count: string; errors: string; operations: string; last_seen_at: Date }[]>(
        `select "client_name", "client_version", sum("count") as "count", sum("error_count") as "errors",
           count(distinct "operation_hash") as "operations", max("last_seen_at") as "last_seen_at"
         from "operation_usage" where ${scope} group by 1, 2 order by 3 desc, 1, 2 limit ?`,
        [...params, MAX_CLIENTS],
      ),
      this.histograms(em, `"client_name" || chr(31) || "client_version"`, scope, params),
    ]);
    return rows.map((row) => ({
      ...clientOf(row),
      errorCount: Number(row.errors),
      operations: Number(row.operations),
      p95DurationMs: quantileOf(buckets.get(`${row.client_name}\u001f${row.client_version}`) ?? [], 0.95),
    }));
  }

  /**
   * Which clients used each coordinate in the last `days` UTC days (today included), across every tenant and
   * anonymous callers: one range scan of the (coordinate, day) index. For the schema registry, never for a tenant.
   */
  async coordinates(coordinates: readonly string[], days: number): Promise<CoordinateUsageView[]> {
    if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS)
      throw badUserInput(`"days" must be between 1 and ${MAX_DAYS}`, { field: 'days' });
    if (coordinates.length > MAX_COORDINATES)
      throw badUserInput(`At most ${MAX_COORDINATES} coordinates at once`, { field: 'coordinates' });
    const wanted = [...new Set(coordinates)];
    if (wanted.length === 0) return [];
    const since = new Date((Math.floor(this.now() / DAY_MS) - (days - 1)) * DAY_MS);
    const rows = await systemFork(this.database).execute<
      { coordinate: string; client_name: string; client_version: string; count: string; last_seen_at: Date }[]
    >(
      `select "coordinate", "client_name", "client_version", sum("count") as "count", max("last_seen_at") as "last_seen_at"
       from "coordinate_usage" where "coordinate" in (select jsonb_array_elements_text(?::jsonb)) and "day" >= ?
       group by 1, 2, 3 order by 1, 4 desc, 2, 3`,
      [JSON.stringify(wanted), since],
    );
    return wanted.map((coordinate) => ({
      coordinate,
      clients: rows.filter((row) => row.coordinate === coordinate).map(clientOf),
    }));
  }

  /** The duration histograms of the rows matching `where`, added up per `key`. */
  private async histograms(em: EntityManager, key: string, where: string, params: unknown[]): Promise<Map<string, number[]>> {
    const rows = await em.execute<{ key: string; index: string; count: string }[]>(
      `select ${key} as "key", b.i as "index", sum(b.v::bigint) as "count"
       from "operation_usage" cross join lateral jsonb_array_elements_text("duration_buckets") with ordinality as b(v, i)
       where ${where} group by 1, 2`,
      params,
    );
    const histograms = new Map<string, number[]>();
    for (const row of rows) {
      let buckets = histograms.get(row.key);
      if (!buckets) histograms.set(row.key, (buckets = Array.from({ length: DURATION_BUCKETS }, () => 0)));
      const index = Number(row.index) - 1;
      if (index >= 0 && index < DURATION_BUCKETS) buckets[index] = Number(row.count);
    }
    return histograms;
  }
}

const clipped = (value: string, length: number) => value.slice(0, length);

/**
 * What reports add, merged per key first: one statement may not update a row twice. Entries naming an operation the
 * report does not describe, or a tenant that is no UUID, are left out; anonymous callers' usage is kept under
 * {@link NO_TENANT}.
 */
function rowsOf(reports: readonly OperationUsageReportInput[]): { operations: OperationRow[]; coordinates: CoordinateRow[] } {
  const operations = new Map<string, OperationRow>();
  const coordinates = new Map<string, CoordinateRow>();
  for (const report of reports) {
    const shapes = new Map(report.operations.map((shape) => [shape.hash, shape]));
    for (const entry of report.usage) {
      const shape = shapes.get(entry.operationHash);
      const tenantId = entry.tenantId == null ? NO_TENANT : String(entry.tenantId).toLowerCase();
      if (!shape || !isUuid(tenantId) || entry.count < 1) continue;
      const seen = entry.lastSeenAt.getTime();
      const lastSeenAt = entry.lastSeenAt.toISOString();
      const clientName = clipped(entry.clientName, 128);
      const clientVersion = clipped(entry.clientVersion, 128);
      const hour = new Date(Math.floor(seen / HOUR_MS) * HOUR_MS).toISOString();
      const operationHash = clipped(entry.operationHash, 64);
      const key = [tenantId, hour, clientName, clientVersion, operationHash].join('\u0000');
      const buckets = Array.from({ length: DURATION_BUCKETS }, (_, index) => Math.max(0, Math.round(entry.durationBuckets[index] ?? 0)));
      const existing = operations.get(key);
      if (existing) {
        existing.count += entry.count;
        existing.error_count += entry.errorCount;
        existing.error_codes = [...new Set([...existing.error_codes, ...entry.errorCodes])];
        existing.duration_ms_sum += entry.durationMsSum;
        existing.duration_buckets = existing.duration_buckets.map((count, index) => count + buckets[index]!);
        if (lastSeenAt > existing.last_seen_at) existing.last_seen_at = lastSeenAt;
      } else {
        operations.set(key, {
          tenant_id: tenantId,
          hour,
          client_name: clientName,
          client_version: clientVersion,
          operation_hash: operationHash,
          operation_name: shape.name ? clipped(shape.name, 255) : null,
          operation_type: shape.type,
          count: entry.count,
          error_count: entry.errorCount,
          error_codes: [...new Set(entry.errorCodes.map((code) => clipped(code, 64)))],
          duration_ms_sum: Math.max(0, entry.durationMsSum),
          duration_buckets: buckets,
          last_seen_at: lastSeenAt,
        });
      }
      const day = new Date(Math.floor(seen / DAY_MS) * DAY_MS).toISOString();
      for (const coordinate of new Set(shape.coordinates)) {
        if (coordinate.length > 512) continue;
        const coordinateKey = [tenantId, day, coordinate, clientName, clientVersion].join('\u0000');
        const row = coordinates.get(coordinateKey);
        if (row) {
          row.count += entry.count;
          if (lastSeenAt > row.last_seen_at) row.last_seen_at = lastSeenAt;
        } else {
          coordinates.set(coordinateKey, {
            tenant_id: tenantId,
            day,
            coordinate,
            client_name: clientName,
            client_version: clientVersion,
            count: entry.count,
            last_seen_at: lastSeenAt,
          });
        }
      }
    }
  }
  return { operations: [...operations.values()], coordinates: [...coordinates.values()] };
}
