import { ANONYMOUS, callSubgraph } from '@nexusflow/kit/core';
// Typed by codegen against the analytics subgraph's schema, and checked by `schema:check` as the registry's call to it.
import { SchemaCoordinateUsageDocument } from './__generated__/nexusflow-analytics-operations.ts';
import type { SchemaChange } from './changes.ts';

/** One client (name and version, null when its requests named none) that used a coordinate in the window. */
export interface CoordinateClient {
  clientName: string | null;
  clientVersion: string | null;
  count: number;
  /** ISO 8601. */
  lastSeenAt: string;
}

/** Which clients used each of `coordinates` in the last `days` days; a coordinate nobody used maps to none. */
export type UsageSource = (coordinates: string[], days: number) => Promise<Map<string, CoordinateClient[]>>;

/** Read field usage to tell breaking changes nobody is hurt by from those that hurt named clients. */
export interface UsageCheckOptions {
  /** The window, in days (today included). */
  days: number;
  source: UsageSource;
  /** Where the usage is read from, for the report. */
  describedAs: string;
}

/** What the usage says about one breaking change. */
export interface ChangeUsage {
  /** The coordinate whose use the change breaks. */
  coordinate: string;
  days: number;
  /** No client used the coordinate in the window and no committed operation uses it: the change breaks nobody known. */
  safe: boolean;
  /** The clients that used it, most calls first. */
  clients: CoordinateClient[];
}

/**
 * Changes whose harm reaches every use of the enclosing coordinate, not only uses of the changed one: a new required
 * argument (or a changed argument type, which may have become required) breaks every call of its field, a new or
 * retyped required input field every use of its input type.
 */
const ENCLOSING = new Set(['FIELD_ARGUMENT_ADDED', 'FIELD_ARGUMENT_TYPE_CHANGED', 'INPUT_FIELD_ADDED', 'INPUT_FIELD_TYPE_CHANGED']);
/** Changes a client is hurt by only if it used the changed coordinate itself. */
const ITSELF = new Set([
  'FIELD_REMOVED',
  'FIELD_TYPE_CHANGED',
  'FIELD_ARGUMENT_REMOVED',
  'INPUT_FIELD_REMOVED',
  'ENUM_VALUE_REMOVED',
  'TYPE_REMOVED',
  'TYPE_KIND_CHANGED',
  'UNION_MEMBER_REMOVED',
  'OBJECT_TYPE_INTERFACE_REMOVED',
]);

/**
 * The coordinate whose use a breaking change breaks, as the gateway records coordinates (`Type`, `Type.field`,
 * `Type.field.argument`, `Input.field`, `Enum.VALUE`); undefined for changes usage cannot clear (directives, schema
 * roots), which stay breaking.
 */
export function coordinateBrokenBy(change: Pick<SchemaChange, 'type' | 'path'>): string | undefined {
  if (!change.path) return undefined;
  if (ENCLOSING.has(change.type)) return change.path.split('.').slice(0, -1).join('.') || undefined;
  if (ITSELF.has(change.type)) return change.path;
  return undefined;
}

/**
 * Whether usage judges a change: a breaking one it can clear, and a removal only dangerous because what it removed was
 * deprecated first, which breaks whoever still uses it all the same.
 */
function judgedByUsage(change: SchemaChange): boolean {
  if (change.severity === 'breaking') return true;
  return change.severity === 'dangerous' && ITSELF.has(change.type);
}

/**
 * Each change usage can judge, with what the usage says; read in one call for all their coordinates. A change that a
 * committed operation uses (`affectedOperations`) is never safe, whatever the window says: that client ships anyway.
 */
export async function usageOfChanges(
  changes: readonly (SchemaChange & { affectedOperations?: string[] })[],
  { days, source }: Pick<UsageCheckOptions, 'days' | 'source'>,
): Promise<Map<SchemaChange, ChangeUsage>> {
  const judged = changes.flatMap((change) => {
    const coordinate = judgedByUsage(change) ? coordinateBrokenBy(change) : undefined;
    return coordinate ? [{ change, coordinate }] : [];
  });
  const usage = new Map<SchemaChange, ChangeUsage>();
  if (judged.length === 0) return usage;
  const clients = await source([...new Set(judged.map(({ coordinate }) => coordinate))].sort(), days);
  for (const { change, coordinate } of judged) {
    const users = clients.get(coordinate) ?? [];
    usage.set(change, { coordinate, days, safe: users.length === 0 && !change.affectedOperations?.length, clients: users });
  }
  return usage;
}

/** How a report names a client: `web 2.3.1`, or `(unnamed client)`. */
export function describeClient({ clientName, clientVersion }: Pick<CoordinateClient, 'clientName' | 'clientVersion'>): string {
  const name = clientName ?? '(unnamed client)';
  return clientVersion ? `${name} ${clientVersion}` : name;
}

export interface AnalyticsUsageOptions {
  /** The analytics subgraph's GraphQL endpoint. */
  url: string;
  /** The secret the gateway and the subgraphs share (INTERNAL_SECRET): the registry signs its call with it. */
  internalSecret: string;
  timeoutMs?: number;
}

/**
 * Usage read from the analytics subgraph's `schemaCoordinateUsage`, which is not in the API: the registry calls the
 * subgraph directly, signed with the internal secret as the gateway signs its own calls, with no client address, which
 * is how analytics tells a service's call from a client's request forwarded by the gateway.
 */
export function analyticsUsageSource({ url, internalSecret, timeoutMs = 30_000 }: AnalyticsUsageOptions): UsageSource {
  return async (coordinates, days) => {
    const { schemaCoordinateUsage } = await callSubgraph({
      url,
      query: SchemaCoordinateUsageDocument,
      variables: { coordinates, days },
      identity: ANONYMOUS,
      internalSecret,
      timeoutMs,
    });
    return new Map(schemaCoordinateUsage.map(({ coordinate, clients }) => [coordinate, clients]));
  };
}
