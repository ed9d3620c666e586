import { createHash, randomUUID } from 'node:crypto';
import { usageReportingSignature } from '@apollo/utils.usagereporting';
import { OperationTypeNode, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { ANONYMOUS, callSubgraph, schemaCoordinatesOf, type Logger, type Metrics } from '@nexusflow/kit/core';
// Typed by codegen against the analytics subgraph's schema, and checked by `schema:check` as the gateway's call to it.
import { ReportOperationUsageDocument, type OperationUsageReportInput } from '../__generated__/nexusflow-analytics-operations.ts';
import type { GatewayConfig } from '../config.ts';
import { BufferedDelivery, CallTransport } from './batch-delivery.ts';

/** What identifies an operation across requests and clients, and what of the schema it uses. */
export interface OperationShape {
  /** SHA-256 (hex) of the operation's name and Apollo's usage-reporting signature (literals hidden, fields sorted). */
  hash: string;
  name: string | null;
  type: 'QUERY' | 'MUTATION' | 'SUBSCRIPTION';
  /**
   * The schema coordinates it uses, sorted: types, `Type.field`, `Type.field.argument`, `Input.field` and `Enum.VALUE`.
   * An input passed as a variable counts whole (every field and value it could carry), as Hive counts it: a check
   * must never call safe what a client may send.
   */
  coordinates: string[];
}

/** Who called, as the client says: `apollographql-client-name`/`-version`, or Hive's `graphql-client-name`/`-version`. */
export interface ClientIdentity {
  name: string;
  version: string;
}

/** One operation the gateway answered. */
export interface OperationExecution {
  /** The caller's tenant; null for anonymous callers (sign-up, sign-in). */
  tenantId: string | null;
  client: ClientIdentity;
  shape: OperationShape;
  durationMs: number;
  /** The `extensions.code` of each error of the response. */
  errorCodes: string[];
}

/**
 * Upper bounds of the duration histogram's buckets: bucket 0 counts durations under 1 ms, bucket i (1 to 18) those from
 * 2^(i-1) up to 2^i ms, bucket 19 everything longer. The analytics subgraph reads percentiles from the same layout.
 */
export const DURATION_BUCKETS = 20;

export function durationBucketOf(durationMs: number): number {
  if (!(durationMs >= 1)) return 0;
  return Math.min(DURATION_BUCKETS - 1, Math.floor(Math.log2(durationMs)) + 1);
}

const MAX_CLIENT_TEXT = 128;
const CLIENT_HEADERS = {
  name: ['apollographql-client-name', 'graphql-client-name', 'x-graphql-client-name'],
  version: ['apollographql-client-version', 'graphql-client-version', 'x-graphql-client-version'],
} as const;

/** The client a request names in its headers (or a WebSocket's connection parameters); empty strings when it names none. */
export function clientIdentityOf(lookup: (name: string) => unknown): ClientIdentity {
  const first = (names: readonly string[]) => {
    for (const name of names) {
      const value = lookup(name);
      if (typeof value === 'string' && value.trim() !== '') return value.trim().slice(0, MAX_CLIENT_TEXT);
    }
    return '';
  };
  return { name: first(CLIENT_HEADERS.name), version: first(CLIENT_HEADERS.version) };
}

const KINDS: Record<OperationTypeNode, OperationShape['type']> = {
  [OperationTypeNode.QUERY]: 'QUERY',
  [OperationTypeNode.MUTATION]: 'MUTATION',
  [OperationTypeNode.SUBSCRIPTION]: 'SUBSCRIPTION',
};

const shapes = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, Map<string, OperationShape>>>();

/**
 * The operation's shape, computed once per parsed document and schema: Apollo Server hands the same document object
 * to every request of the same text (its document store), so a request of a known operation costs two map lookups.
 */
export function operationShapeOf(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): OperationShape {
  let byDocument = shapes.get(schema);
  if (!byDocument) shapes.set(schema, (byDocument = new WeakMap()));
  let byName = byDocument.get(document);
  if (!byName) byDocument.set(document, (byName = new Map<string, OperationShape>()));
  const name = operation.name?.value ?? null;
  let shape = byName.get(name ?? '');
  if (!shape) {
    const signature = usageReportingSignature(document, name ?? '');
    shape = {
      hash: createHash('sha256')
        .update(`# ${name ?? '-'}\n${signature}`)
        .digest('hex'),
      name,
      type: KINDS[operation.operation],
      coordinates: [...schemaCoordinatesOf(schema, document, operation)].sort(),
    };
    byName.set(name ?? '', shape);
  }
  return shape;
}

/** One report, as the analytics subgraph's `reportOperationUsage` receives it (idempotent by `id`). */
export type UsageReport = OperationUsageReportInput;
type UsageEntry = UsageReport['usage'][number];
/** An entry as it grows: its last call's time kept as a number, formatted once per report rather than once per call. */
type GrowingEntry = Omit<UsageEntry, 'lastSeenAt'> & { lastSeenMs: number };

/** Well under the 1 MiB a subgraph accepts in one request. */
const MAX_CALL_BYTES = 512 * 1024;
/** Roughly what a report may hold of operation shapes before it is sent early, to stay under {@link MAX_CALL_BYTES}. */
const MAX_SHAPE_BYTES = 256 * 1024;
/** Reports handed to the transport at once while catching up. */
const DELIVERY_BATCH = 4;

export interface UsageReporterOptions {
  /** The analytics subgraph's routing URL, once a supergraph names it; none: nothing is recorded. */
  analyticsUrl: () => string | undefined;
  now?: (() => number) | undefined;
}

/**
 * Operation usage, the way Apollo GraphOS and Hive collect it: each operation the gateway answers is added in memory
 * to its (tenant, client name, client version, operation) entry, with its count, errors, and a histogram of its
 * durations; every `intervalMs`, or sooner when a report grows past `maxEntries`, the entries become one report with
 * an id, delivered to the analytics subgraph by the same {@link BufferedDelivery} as audit records: after the
 * responses, retried with backoff, at most `bufferReports` held while analytics is unreachable (the oldest dropped,
 * counted in `gateway_usage_records_dropped_total` and logged). Recording never throws and never waits.
 */
export class UsageReporter {
  private entries = new Map<string, GrowingEntry>();
  private shapes = new Map<string, OperationShape>();
  private shapeBytes = 0;
  private startedAt: number;
  private readonly timer: NodeJS.Timeout;
  private readonly delivery: BufferedDelivery<UsageReport>;
  private closed = false;

  constructor(
    private readonly settings: GatewayConfig['usageReporting'],
    private readonly options: UsageReporterOptions & { internalSecret: string; timeoutMs: number },
    logger: Logger,
    metrics: Metrics,
  ) {
    const transport = new CallTransport<UsageReport>(async (reports) => {
      const url = options.analyticsUrl();
      if (!url) throw new Error('no supergraph names the analytics subgraph');
      await callSubgraph({
        url,
        query: ReportOperationUsageDocument,
        variables: { reports },
        identity: ANONYMOUS,
        internalSecret: options.internalSecret,
        timeoutMs: options.timeoutMs,
        ...(options.now ? { now: options.now } : {}),
      });
    }, MAX_CALL_BYTES);
    this.delivery = new BufferedDelivery(transport, {
      metricPrefix: 'gateway_usage',
      noun: 'usage reports',
      bufferSize: settings.bufferReports,
      deliveryBatch: DELIVERY_BATCH,
      logger,
      metrics,
    });
    this.startedAt = this.now();
    this.timer = setInterval(() => this.flush(), settings.intervalMs);
    this.timer.unref();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Whether operations are worth recording: a supergraph names the analytics subgraph. */
  get active(): boolean {
    return !this.closed && this.options.analyticsUrl() !== undefined;
  }

  record({ tenantId, client, shape, durationMs, errorCodes }: OperationExecution): void {
    if (this.closed) return;
    const key = `${tenantId ?? ''}\u0000${client.name}\u0000${client.version}\u0000${shape.hash}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        tenantId,
        clientName: client.name,
        clientVersion: client.version,
        operationHash: shape.hash,
        count: 0,
        errorCount: 0,
        errorCodes: [],
        durationMsSum: 0,
        durationBuckets: Array.from({ length: DURATION_BUCKETS }, () => 0),
        lastSeenMs: 0,
      };
      this.entries.set(key, entry);
    }
    if (!this.shapes.has(shape.hash)) {
      this.shapes.set(shape.hash, shape);
      this.shapeBytes += JSON.stringify(shape).length;
    }
    entry.count += 1;
    if (errorCodes.length > 0) entry.errorCount += 1;
    for (const code of errorCodes) if (!entry.errorCodes.includes(code)) entry.errorCodes.push(code);
    entry.durationMsSum += durationMs;
    entry.durationBuckets[durationBucketOf(durationMs)]! += 1;
    entry.lastSeenMs = this.now();
    if (this.entries.size >= this.settings.maxEntries || this.shapeBytes >= MAX_SHAPE_BYTES) this.flush();
  }

  /** Hands what was recorded since the last report to delivery, as one report. */
  flush(): void {
    if (this.entries.size === 0) return;
    const endedAt = this.now();
    const report: UsageReport = {
      id: randomUUID(),
      startedAt: new Date(this.startedAt).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
      operations: [...this.shapes.values()].map(({ hash, name, type, coordinates }) => ({ hash, name, type, coordinates })),
      usage: [...this.entries.values()].map(({ lastSeenMs, ...entry }) => ({ ...entry, lastSeenAt: new Date(lastSeenMs).toISOString() })),
    };
    this.entries = new Map();
    this.shapes = new Map();
    this.shapeBytes = 0;
    this.startedAt = endedAt;
    this.delivery.add(report);
  }

  /** Reports not yet confirmed delivered. */
  get pending(): number {
    return this.delivery.pending;
  }

  /** Settles when the delivery under way, if any, has ended. */
  settled(): Promise<void> {
    return this.delivery.settled();
  }

  /** Reports what was recorded, delivers what is buffered (one attempt), and stops. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    this.closed = true;
    await this.delivery.close();
  }
}

/** The gateway's usage reporter; undefined when USAGE_REPORTING=off. */
export function usageReporter(
  config: GatewayConfig,
  logger: Logger,
  metrics: Metrics,
  options: UsageReporterOptions,
): UsageReporter | undefined {
  if (!config.usageReporting.enabled) return undefined;
  return new UsageReporter(
    config.usageReporting,
    { ...options, internalSecret: config.internalSecret, timeoutMs: config.subgraphClient.timeoutMs },
    logger,
    metrics,
  );
}
