import { randomUUID } from 'node:crypto';
import { Kind, parse, type DocumentNode } from 'graphql';
import { Counter, Gauge } from 'prom-client';
import { ANONYMOUS, callSubgraph, createEventBus, type EventBus, type Logger, type Metrics } from '@nexusflow/kit/core';
// Typed by codegen against the audit subgraph's schema, and checked by `schema:check` as the gateway's call to it.
import { RecordGatewayAuditRecordsDocument } from '../__generated__/nexusflow-audit-operations.ts';
import type { GatewayConfig } from '../config.ts';

/** The type the audit subgraph reads gateway records on the bus by (subgraphs/nexusflow/audit/src/domain/events.ts). */
export const GATEWAY_RECORD_TYPE = 'audit.gateway.recorded';

/** What the gateway says about one operation; the audit subgraph turns it into an entry of the tenant's trail. */
export interface GatewayAuditRecord {
  source: 'MUTATION' | 'SENSITIVE_READ';
  actor: { kind: 'USER' | 'API_KEY'; id: string };
  roles: string[];
  operationName: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  outcome: 'SUCCESS' | 'FAILURE';
  errorCodes: string[];
  /** Root fields of a mutation, or the `Type.field` coordinates of the sensitive fields read. */
  fields: string[];
  variables: Record<string, unknown>;
  ipAddress: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/** Records handed to the transport at once while catching up. */
const DELIVERY_BATCH = 64;
const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

/** A record on its way, with what makes it an entry of one tenant's trail and recognisable when delivered again. */
export interface AuditEnvelope {
  /** A UUID: the audit subgraph appends a record at most once by it, however often it arrives. */
  id: string;
  tenantId: string;
  /** ISO 8601. */
  occurredAt: string;
  record: GatewayAuditRecord;
}

/** What a delivery attempt left undone, in order, and why. */
export interface AuditDeliveryOutcome {
  undelivered: AuditEnvelope[];
  reason?: unknown;
}

/** How records leave the gateway: on the event bus, or in a call to the audit subgraph. */
export interface AuditTransport {
  readonly kind: 'bus' | 'http';
  /**
   * Delivers a batch. A record reported undelivered may have arrived all the same (its reply was lost): the audit
   * subgraph recognises it by its id when it comes again.
   */
  deliver(batch: readonly AuditEnvelope[]): Promise<AuditDeliveryOutcome>;
  close(): Promise<void>;
}

/** Each record as an event of the bus, which the audit subgraph's durable queue consumes. */
export class BusAuditTransport implements AuditTransport {
  readonly kind = 'bus';

  constructor(private readonly bus: EventBus) {}

  async deliver(batch: readonly AuditEnvelope[]): Promise<AuditDeliveryOutcome> {
    const results = await Promise.allSettled(
      batch.map(({ id, tenantId, occurredAt, record }) =>
        this.bus.publish({ id, type: GATEWAY_RECORD_TYPE, occurredAt, tenantId, payload: { ...record } }),
      ),
    );
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    const undelivered = batch.filter((_, index) => results[index]!.status === 'rejected');
    return failure ? { undelivered, reason: failure.reason } : { undelivered };
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}

/** Well under the 1 MiB a subgraph accepts in one request, whatever the records' variables (16 KiB at most each). */
const MAX_CALL_BYTES = 256 * 1024;

/** The batch cut into runs of records whose JSON stays under {@link MAX_CALL_BYTES}, each with where it starts. */
function callsOf(batch: readonly AuditEnvelope[]): { start: number; envelopes: AuditEnvelope[] }[] {
  const calls: { start: number; envelopes: AuditEnvelope[] }[] = [];
  let bytes = Infinity;
  batch.forEach((envelope, index) => {
    const size = JSON.stringify(envelope).length;
    if (bytes + size > MAX_CALL_BYTES) {
      calls.push({ start: index, envelopes: [] });
      bytes = 0;
    }
    calls.at(-1)!.envelopes.push(envelope);
    bytes += size;
  });
  return calls;
}

export interface HttpAuditTransportOptions {
  /** The audit subgraph's routing URL, once a supergraph has named it. */
  auditUrl: () => string | undefined;
  internalSecret: string;
  timeoutMs: number;
  now?: (() => number) | undefined;
}

/**
 * Records in calls to the audit subgraph's `recordGatewayAuditRecords`, in order: what a gateway without an event bus
 * of its services (AMQP_URL unset, as under `npm start`) uses, since an in-process bus would reach nobody outside the
 * gateway's process. A failed call leaves it and every record after it for the next attempt.
 */
export class HttpAuditTransport implements AuditTransport {
  readonly kind = 'http';

  constructor(private readonly options: HttpAuditTransportOptions) {}

  async deliver(batch: readonly AuditEnvelope[]): Promise<AuditDeliveryOutcome> {
    for (const { start, envelopes } of callsOf(batch)) {
      try {
        await this.call(envelopes);
      } catch (reason) {
        return { undelivered: batch.slice(start), reason };
      }
    }
    return { undelivered: [] };
  }

  private async call(envelopes: AuditEnvelope[]): Promise<void> {
    const url = this.options.auditUrl();
    if (!url) throw new Error('no supergraph names the audit subgraph yet');
    await callSubgraph({
      url,
      query: RecordGatewayAuditRecordsDocument,
      variables: { records: envelopes.map(({ id, tenantId, occurredAt, record }) => ({ id, tenantId, occurredAt, ...record })) },
      identity: ANONYMOUS,
      internalSecret: this.options.internalSecret,
      timeoutMs: this.options.timeoutMs,
      ...(this.options.now ? { now: this.options.now } : {}),
    });
  }

  /** Holds nothing of its own: its calls use the process's fetch connections. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Audit records on their way to the audit subgraph, never in the client's way: `record` only buffers, delivery happens
 * after the response, over whichever transport the configuration chose, and while it fails records wait in a bounded
 * buffer, retried with backoff. When the buffer is full the oldest record is dropped to make room (counted in
 * `gateway_audit_records_dropped_total` and logged): the gateway keeps serving rather than holding memory without bound
 * for an outage of unknown length.
 */
export class AuditRecorder {
  private readonly buffer: AuditEnvelope[] = [];
  /** Records taken from the buffer by the delivery under way. */
  private inFlight = 0;
  private flushing: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryDelayMs = MIN_RETRY_MS;
  private readonly dropped: Counter;
  private readonly delivered: Counter;
  private readonly failures: Counter;
  private closed = false;
  /** Whether records are being dropped: logged once per outage, not once per record. */
  private dropping = false;

  constructor(
    private readonly transport: AuditTransport,
    private readonly bufferSize: number,
    private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.dropped = new Counter({
      name: 'gateway_audit_records_dropped_total',
      help: 'Audit records dropped because the buffer was full while they could not be delivered',
      registers: [metrics.registry],
    });
    this.delivered = new Counter({
      name: 'gateway_audit_records_delivered_total',
      help: 'Audit records the event bus or the audit subgraph confirmed, by transport',
      labelNames: ['transport'],
      registers: [metrics.registry],
    });
    this.failures = new Counter({
      name: 'gateway_audit_delivery_failures_total',
      help: 'Deliveries of audit records that failed and will be retried, by transport',
      labelNames: ['transport'],
      registers: [metrics.registry],
    });
    // Exported at 0 from the start, so that rate() and alerts see the series before the first delivery.
    this.delivered.inc({ transport: transport.kind }, 0);
    this.failures.inc({ transport: transport.kind }, 0);
    const pending = () => this.pending;
    new Gauge({
      name: 'gateway_audit_records_buffered',
      help: 'Audit records waiting to be delivered, or being delivered',
      registers: [metrics.registry],
      collect() {
        this.set(pending());
      },
    });
  }

  record(tenantId: string, record: GatewayAuditRecord): void {
    if (this.closed) return;
    if (this.buffer.length >= this.bufferSize) {
      this.buffer.shift();
      this.drop(1);
    }
    this.buffer.push({ id: randomUUID(), tenantId, occurredAt: new Date().toISOString(), record: { ...record } });
    this.kick();
  }

  private drop(count: number): void {
    this.dropped.inc(count);
    if (this.dropping) return;
    this.dropping = true;
    this.logger.error(
      { bufferSize: this.bufferSize, transport: this.transport.kind },
      'audit buffer full: dropping the oldest records until they can be delivered again',
    );
  }

  /** Records not yet confirmed delivered. */
  get pending(): number {
    return this.buffer.length + this.inFlight;
  }

  private kick(): void {
    if (this.flushing || this.retry) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  private async flush(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, DELIVERY_BATCH);
      this.inFlight = batch.length;
      const { undelivered, reason } = await this.transport
        .deliver(batch)
        .catch((error: unknown) => ({ undelivered: batch, reason: error }));
      this.delivered.inc({ transport: this.transport.kind }, batch.length - undelivered.length);
      // Back at the front, so that records keep their order; older ones than the buffer can hold give way.
      this.buffer.unshift(...undelivered);
      this.inFlight = 0;
      if (undelivered.length === 0) {
        this.retryDelayMs = MIN_RETRY_MS;
        this.dropping = false;
        continue;
      }
      this.failures.inc({ transport: this.transport.kind });
      const overflow = this.buffer.length - this.bufferSize;
      if (overflow > 0) {
        this.buffer.splice(0, overflow);
        this.drop(overflow);
      }
      this.logger.warn(
        { err: reason, transport: this.transport.kind, pending: this.buffer.length, retryInMs: this.retryDelayMs },
        'could not deliver audit records',
      );
      if (this.closed) return;
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.kick();
      }, this.retryDelayMs);
      this.retry.unref();
      this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RETRY_MS);
      return;
    }
  }

  /** Delivers what is buffered (one attempt), reports what could not be, and lets go of the transport. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    await this.flushing;
    if (this.buffer.length > 0) await this.flush();
    if (this.buffer.length > 0) this.logger.error({ lost: this.buffer.length }, 'audit records could not be delivered before shutdown');
    await this.transport.close();
  }
}

/** Where the HTTP transport finds the audit subgraph, and how the gateway calls its subgraphs. */
export interface AuditRecorderOptions {
  /** The audit subgraph's routing URL (SUBGRAPH_AUDIT_URL, else the supergraph's), once a supergraph has named it. */
  auditUrl: () => string | undefined;
  now?: (() => number) | undefined;
}

/**
 * The gateway's recorder; undefined when AUDIT=off. With AMQP_URL, records go out on the bus the services share (as in
 * production); without it, in calls to the audit subgraph, since the gateway's in-process bus reaches no other process.
 */
export function auditRecorder(
  config: GatewayConfig,
  logger: Logger,
  metrics: Metrics,
  options: AuditRecorderOptions,
): AuditRecorder | undefined {
  if (!config.audit.enabled) return undefined;
  const transport: AuditTransport = config.audit.amqpUrl
    ? new BusAuditTransport(createEventBus(config.audit.amqpUrl, logger, config.audit.amqpNamespace))
    : new HttpAuditTransport({
        auditUrl: options.auditUrl,
        internalSecret: config.internalSecret,
        timeoutMs: config.subgraphClient.timeoutMs,
        now: options.now,
      });
  return new AuditRecorder(transport, config.audit.bufferSize, logger, metrics);
}

/**
 * The fields of a supergraph marked `@sensitive` (the directive the audit subgraph defines and composes with
 * `@composeDirective`, so that it survives composition), as `Type.field` coordinates.
 */
export function sensitiveFieldsOf(supergraphSdl: string | DocumentNode): Set<string> {
  const document = typeof supergraphSdl === 'string' ? parse(supergraphSdl) : supergraphSdl;
  const fields = new Set<string>();
  for (const definition of document.definitions) {
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.OBJECT_TYPE_EXTENSION &&
      definition.kind !== Kind.INTERFACE_TYPE_DEFINITION
    )
      continue;
    for (const field of definition.fields ?? []) {
      if (field.directives?.some((directive) => directive.name.value === 'sensitive'))
        fields.add(`${definition.name.value}.${field.name.value}`);
    }
  }
  return fields;
}
