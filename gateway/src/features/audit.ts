import { randomUUID } from 'node:crypto';
import { Kind, parse, type DocumentNode } from 'graphql';
import { ANONYMOUS, callSubgraph, createEventBus, type EventBus, type Logger, type Metrics } from '@nexusflow/kit/core';
// Typed by codegen against the audit subgraph's schema, and checked by `schema:check` as the gateway's call to it.
import { RecordGatewayAuditRecordsDocument } from '../__generated__/nexusflow-audit-operations.ts';
import type { GatewayConfig } from '../config.ts';
import { BufferedDelivery, CallTransport, type BatchTransport, type DeliveryOutcome } from './batch-delivery.ts';

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
  /** A mutation's root fields' arguments as executed, by response key, secrets redacted: inline values included. */
  arguments: Record<string, unknown>;
  ipAddress: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/** Records handed to the transport at once while catching up. */
const DELIVERY_BATCH = 64;

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
export type AuditDeliveryOutcome = DeliveryOutcome<AuditEnvelope>;

/** How records leave the gateway: on the event bus, or in a call to the audit subgraph. */
export interface AuditTransport extends BatchTransport<AuditEnvelope> {
  readonly kind: 'bus' | 'http';
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
export class HttpAuditTransport extends CallTransport<AuditEnvelope> implements AuditTransport {
  constructor(options: HttpAuditTransportOptions) {
    super(async (envelopes) => {
      const url = options.auditUrl();
      if (!url) throw new Error('no supergraph names the audit subgraph yet');
      await callSubgraph({
        url,
        query: RecordGatewayAuditRecordsDocument,
        variables: { records: envelopes.map(({ id, tenantId, occurredAt, record }) => ({ id, tenantId, occurredAt, ...record })) },
        identity: ANONYMOUS,
        internalSecret: options.internalSecret,
        timeoutMs: options.timeoutMs,
        ...(options.now ? { now: options.now } : {}),
      });
    }, MAX_CALL_BYTES);
  }
}

/**
 * Audit records on their way to the audit subgraph, never in the client's way: `record` only buffers, and the shared
 * {@link BufferedDelivery} delivers after the response, over whichever transport the configuration chose, retrying
 * with backoff while it fails and dropping the oldest records past the bounded buffer (counted in
 * `gateway_audit_records_dropped_total` and logged).
 */
export class AuditRecorder {
  private readonly delivery: BufferedDelivery<AuditEnvelope>;

  constructor(transport: AuditTransport, bufferSize: number, logger: Logger, metrics: Metrics) {
    this.delivery = new BufferedDelivery(transport, {
      metricPrefix: 'gateway_audit',
      noun: 'audit records',
      bufferSize,
      deliveryBatch: DELIVERY_BATCH,
      logger,
      metrics,
    });
  }

  record(tenantId: string, record: GatewayAuditRecord): void {
    this.delivery.add({ id: randomUUID(), tenantId, occurredAt: new Date().toISOString(), record: { ...record } });
  }

  /** Records not yet confirmed delivered. */
  get pending(): number {
    return this.delivery.pending;
  }

  /** Delivers what is buffered (one attempt), reports what could not be, and lets go of the transport. */
  close(): Promise<void> {
    return this.delivery.close();
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
