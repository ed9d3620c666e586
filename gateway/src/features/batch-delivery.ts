import { Counter, Gauge } from 'prom-client';
import type { Logger, Metrics } from '@nexusflow/kit/core';

/** What a delivery attempt left undone, in order, and why. */
export interface DeliveryOutcome<T> {
  undelivered: T[];
  reason?: unknown;
}

/** How items leave the gateway: on the event bus, or in calls to a subgraph. */
export interface BatchTransport<T> {
  /** Labels the delivery metrics, e.g. `bus` or `http`. */
  readonly kind: string;
  /**
   * Delivers a batch. An item reported undelivered may have arrived all the same (its reply was lost): the receiving
   * service recognises it by its id when it comes again.
   */
  deliver(batch: readonly T[]): Promise<DeliveryOutcome<T>>;
  close(): Promise<void>;
}

/** The batch cut into runs of items whose JSON stays under `maxBytes`, each with where it starts in the batch. */
export function callsOf<T>(batch: readonly T[], maxBytes: number): { start: number; items: T[] }[] {
  const calls: { start: number; items: T[] }[] = [];
  let bytes = Infinity;
  batch.forEach((item, index) => {
    const size = JSON.stringify(item).length;
    if (bytes + size > maxBytes) {
      calls.push({ start: index, items: [] });
      bytes = 0;
    }
    calls.at(-1)!.items.push(item);
    bytes += size;
  });
  return calls;
}

/**
 * Items in calls to a subgraph, in order, each call under `maxCallBytes` of JSON: a failed call leaves it and every
 * item after it for the next attempt.
 */
export class CallTransport<T> implements BatchTransport<T> {
  readonly kind = 'http';

  constructor(
    private readonly call: (items: T[]) => Promise<void>,
    private readonly maxCallBytes: number,
  ) {}

  async deliver(batch: readonly T[]): Promise<DeliveryOutcome<T>> {
    for (const { start, items } of callsOf(batch, this.maxCallBytes)) {
      try {
        await this.call(items);
      } catch (reason) {
        return { undelivered: batch.slice(start), reason };
      }
    }
    return { undelivered: [] };
  }

  /** Holds nothing of its own: its calls use the process's fetch connections. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

export interface BufferedDeliveryOptions {
  /**
   * Names the metrics (`<prefix>_records_delivered_total`, `<prefix>_records_dropped_total`,
   * `<prefix>_delivery_failures_total`, `<prefix>_records_buffered`), e.g. `gateway_audit`.
   */
  metricPrefix: string;
  /** What the items are, for help texts and logs, e.g. `audit records`. */
  noun: string;
  /** Items held while they cannot be delivered; past it, the oldest are dropped. */
  bufferSize: number;
  /** Items handed to the transport at once while catching up. */
  deliveryBatch: number;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Items on their way out of the gateway, never in a client's way: `add` only buffers, delivery happens after the
 * response, over the transport given, and while it fails items wait in a bounded buffer, retried with backoff. When the
 * buffer is full the oldest item is dropped to make room (counted in `<prefix>_records_dropped_total` and logged once
 * per outage): the gateway keeps serving rather than holding memory without bound for an outage of unknown length.
 * Audit records and usage reports both leave this way.
 */
export class BufferedDelivery<T> {
  private readonly buffer: T[] = [];
  /** Items taken from the buffer by the delivery under way. */
  private inFlight = 0;
  private flushing: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryDelayMs = MIN_RETRY_MS;
  private readonly dropped: Counter;
  private readonly delivered: Counter;
  private readonly failures: Counter;
  private closed = false;
  /** Whether items are being dropped: logged once per outage, not once per item. */
  private dropping = false;

  constructor(
    private readonly transport: BatchTransport<T>,
    private readonly options: BufferedDeliveryOptions,
  ) {
    const { metricPrefix, noun, metrics } = options;
    this.dropped = new Counter({
      name: `${metricPrefix}_records_dropped_total`,
      help: `${capitalised(noun)} dropped because the buffer was full while they could not be delivered`,
      registers: [metrics.registry],
    });
    this.delivered = new Counter({
      name: `${metricPrefix}_records_delivered_total`,
      help: `${capitalised(noun)} the receiving end confirmed, by transport`,
      labelNames: ['transport'],
      registers: [metrics.registry],
    });
    this.failures = new Counter({
      name: `${metricPrefix}_delivery_failures_total`,
      help: `Deliveries of ${noun} that failed and will be retried, by transport`,
      labelNames: ['transport'],
      registers: [metrics.registry],
    });
    // Exported at 0 from the start, so that rate() and alerts see the series before the first delivery.
    this.delivered.inc({ transport: transport.kind }, 0);
    this.failures.inc({ transport: transport.kind }, 0);
    const pending = () => this.pending;
    new Gauge({
      name: `${metricPrefix}_records_buffered`,
      help: `${capitalised(noun)} waiting to be delivered, or being delivered`,
      registers: [metrics.registry],
      collect() {
        this.set(pending());
      },
    });
  }

  add(item: T): void {
    if (this.closed) return;
    if (this.buffer.length >= this.options.bufferSize) {
      this.buffer.shift();
      this.drop(1);
    }
    this.buffer.push(item);
    this.kick();
  }

  /** Items not yet confirmed delivered. */
  get pending(): number {
    return this.buffer.length + this.inFlight;
  }

  /** Settles when the delivery under way (if any) has ended, delivered or left for a retry. */
  async settled(): Promise<void> {
    await this.flushing;
  }

  private drop(count: number): void {
    this.dropped.inc(count);
    if (this.dropping) return;
    this.dropping = true;
    this.options.logger.error(
      { bufferSize: this.options.bufferSize, transport: this.transport.kind },
      `${this.options.noun} buffer full: dropping the oldest until they can be delivered again`,
    );
  }

  private kick(): void {
    if (this.flushing || this.retry) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  private async flush(): Promise<void> {
    const { transport } = this;
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.options.deliveryBatch);
      this.inFlight = batch.length;
      const { undelivered, reason } = await transport.deliver(batch).catch((error: unknown) => ({ undelivered: batch, reason: error }));
      this.delivered.inc({ transport: transport.kind }, batch.length - undelivered.length);
      // Back at the front, so that items keep their order; older ones than the buffer can hold give way.
      this.buffer.unshift(...undelivered);
      this.inFlight = 0;
      if (undelivered.length === 0) {
        this.retryDelayMs = MIN_RETRY_MS;
        this.dropping = false;
        continue;
      }
      this.failures.inc({ transport: transport.kind });
      const overflow = this.buffer.length - this.options.bufferSize;
      if (overflow > 0) {
        this.buffer.splice(0, overflow);
        this.drop(overflow);
      }
      this.options.logger.warn(
        { err: reason, transport: transport.kind, pending: this.buffer.length, retryInMs: this.retryDelayMs },
        `could not deliver ${this.options.noun}`,
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
    if (this.buffer.length > 0)
      this.options.logger.error({ lost: this.buffer.length }, `${this.options.noun} could not be delivered before shutdown`);
    await this.transport.close();
  }
}

const capitalised = (text: string) => `${text[0]!.toUpperCase()}${text.slice(1)}`;
