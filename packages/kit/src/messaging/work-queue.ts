import { AsyncResource } from 'node:async_hooks';
import { AmqpConnection } from './amqp-connection.ts';
import type { Logger } from '../platform/logger.ts';
import { activeTracer, isTracing, startProducerSpan, traceConsumption } from '../platform/telemetry.ts';

export interface WorkQueueConsumeOptions {
  /** Messages handled at once by this consumer. @default 8 */
  concurrency?: number;
}

export interface WorkQueueEnqueueOptions {
  /** Deliver no earlier than this many milliseconds from now. @default 0 */
  delayMs?: number;
  /**
   * While the broker is known to be unreachable, wait for it to come back (up to the enqueue timeout). False rejects
   * at once instead, with a `DependencyUnavailableError`: for callers whose work is recorded elsewhere (a database)
   * and who send it again when {@link WorkQueue.onReconnected} says the broker is back. A queue that never loses its
   * broker (the in-memory one) ignores it.
   * @default true
   */
  waitForReconnection?: boolean;
}

export interface WorkQueueDelivery {
  /** The message was handed out before and not acknowledged: it may have been (partly) processed. */
  redelivered: boolean;
}

export type WorkQueueHandler<T> = (message: T, delivery: WorkQueueDelivery) => Promise<void>;

/**
 * Competing consumers: each message goes to one of them, at least once. Messages travel as JSON,
 * so a `Date` arrives as its ISO string and `undefined` properties are dropped.
 */
export interface WorkQueue<T> {
  /** Resolves once the broker has the message durably (a publisher confirm, with RabbitMQ). */
  enqueue(message: T, options?: WorkQueueEnqueueOptions): Promise<void>;
  /**
   * A handler that resolves acknowledges its message; one that rejects has it requeued and delivered
   * again with `redelivered: true`. Messages whose consumer process dies before acknowledging are
   * delivered to another consumer. `stop()` stops taking messages and waits for the handlers in flight.
   */
  consume(handler: WorkQueueHandler<T>, options?: WorkQueueConsumeOptions): Promise<{ stop(): Promise<void> }>;
  /**
   * Calls `listener` each time the queue takes messages again after its broker was unreachable (a lost connection
   * came back, or a first one was finally made), so that work that could not be sent meanwhile is sent now. Returns
   * a function that removes it. The in-memory queue never loses its broker and never calls it.
   */
  onReconnected(listener: () => void): () => void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_CONCURRENCY = 8;

function concurrencyOf(options: WorkQueueConsumeOptions): number {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  return concurrency;
}

/** Whole milliseconds, rounded up so that a message never arrives early; 0 means now. */
function delayOf(options: WorkQueueEnqueueOptions): number {
  const delayMs = options.delayMs ?? 0;
  if (!Number.isFinite(delayMs)) throw new RangeError(`delayMs must be a finite number, got ${delayMs}`);
  return delayMs > 0 ? Math.ceil(delayMs) : 0;
}

function serialize(message: unknown): string {
  return JSON.stringify(message) ?? 'null';
}

/** A message waiting in memory, with the W3C trace context of its sending when that was traced, as a broker's headers carry it. */
interface MemoryMessage {
  body: string;
  redelivered: boolean;
  traceHeaders?: Record<string, string> | undefined;
}

interface MemoryConsumer {
  handler: (message: MemoryMessage) => Promise<void>;
  concurrency: number;
  inFlight: Set<Promise<void>>;
}

export class InMemoryWorkQueue<T> implements WorkQueue<T> {
  /** Serialized, so that each delivery gets its own copy, as it would from a broker. */
  private readonly ready: MemoryMessage[] = [];
  private readonly consumers: MemoryConsumer[] = [];
  /** Where the next round-robin turn starts, so that competing consumers share the work. */
  private turn = 0;
  private readonly delayed = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly name: string,
    private readonly logger: Logger,
  ) {}

  async enqueue(message: T, options: WorkQueueEnqueueOptions = {}): Promise<void> {
    if (this.closed) throw new Error(`cannot enqueue to "${this.name}": the work queue is closed`);
    const body = serialize(message);
    const delayMs = delayOf(options);
    const producer = isTracing()
      ? startProducerSpan(`publish ${this.name}`, {
          'messaging.system': 'in-memory',
          'messaging.operation.type': 'send',
          'messaging.destination.name': this.name,
        })
      : undefined;
    producer?.span.end();
    const traceHeaders = producer?.headers;
    if (delayMs === 0) return this.push({ body, redelivered: false, traceHeaders });
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      this.push({ body, redelivered: false, traceHeaders });
    }, delayMs);
    // Delayed messages die with the process anyway; they must not keep it alive.
    timer.unref();
    this.delayed.add(timer);
  }

  async consume(handler: WorkQueueHandler<T>, options: WorkQueueConsumeOptions = {}): Promise<{ stop(): Promise<void> }> {
    if (this.closed) throw new Error(`cannot consume from "${this.name}": the work queue is closed`);
    // Bound to the consumer's async context: a broker's consumer never runs inside its publisher's
    // context, and an in-process one must not either (the publisher's open transaction lives there).
    // Its spans are the consuming service's, whose tracer is active here; they continue the trace of each message's sending.
    const tracer = activeTracer();
    const attributes = { 'messaging.system': 'in-memory', 'messaging.operation.type': 'process', 'messaging.destination.name': this.name };
    const bound = AsyncResource.bind((message: MemoryMessage) =>
      traceConsumption(tracer, `process ${this.name}`, message.traceHeaders, attributes, () =>
        (handler as WorkQueueHandler<unknown>)(JSON.parse(message.body), { redelivered: message.redelivered }),
      ),
    );
    const consumer: MemoryConsumer = { handler: bound, concurrency: concurrencyOf(options), inFlight: new Set() };
    this.consumers.push(consumer);
    this.dispatch();
    return { stop: () => this.stop(consumer) };
  }

  private async stop(consumer: MemoryConsumer): Promise<void> {
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
    await Promise.all(consumer.inFlight);
  }

  private push(message: MemoryMessage): void {
    this.ready.push(message);
    this.dispatch();
  }

  private nextConsumer(): MemoryConsumer | undefined {
    for (let offset = 0; offset < this.consumers.length; offset += 1) {
      const index = (this.turn + offset) % this.consumers.length;
      const consumer = this.consumers[index]!;
      if (consumer.inFlight.size < consumer.concurrency) {
        this.turn = index + 1;
        return consumer;
      }
    }
    return undefined;
  }

  private dispatch(): void {
    while (this.ready.length > 0) {
      const consumer = this.nextConsumer();
      if (!consumer) return;
      this.deliver(consumer, this.ready.shift()!);
    }
  }

  private deliver(consumer: MemoryConsumer, message: MemoryMessage): void {
    const handled = (async () => {
      // Never inside enqueue() itself: a broker delivers after the publisher has moved on.
      await Promise.resolve();
      try {
        await consumer.handler(message);
      } catch (error) {
        this.logger.warn(
          { err: error instanceof Error ? error.message : String(error), queue: this.name },
          'message handler failed; requeued the message',
        );
        // Redelivered on a later turn of the event loop: a handler that keeps failing at once must not
        // starve everything else of the process in a loop of microtasks.
        if (!this.closed) await new Promise<void>((resolve) => setImmediate(resolve));
        if (!this.closed) this.ready.push({ ...message, redelivered: true });
      }
    })();
    consumer.inFlight.add(handled);
    void handled.finally(() => {
      consumer.inFlight.delete(handled);
      this.dispatch();
    });
  }

  onReconnected(): () => void {
    return () => undefined;
  }

  async ping(): Promise<void> {}

  /** Stops every consumer, waiting for its handlers in flight; messages not yet handled are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    await Promise.all([...this.consumers].map((consumer) => this.stop(consumer)));
    this.ready.length = 0;
  }
}

export interface RabbitWorkQueueOptions {
  /** How long enqueue() may wait for the broker's confirm, reconnection included. @default 5000 */
  enqueueTimeoutMs?: number;
  /** The cap of the backoff between reconnection attempts. @default 5000 */
  maxReconnectDelayMs?: number;
}

/**
 * A durable RabbitMQ queue of persistent messages. Delays need no broker plugin: a delayed message
 * waits in a queue of its own delay, whose messages expire into the work queue; such a queue
 * removes itself a minute after its last use.
 */
export class RabbitWorkQueue<T> implements WorkQueue<T> {
  private readonly connection: AmqpConnection;

  constructor(
    url: string,
    private readonly name: string,
    logger: Logger,
    options: RabbitWorkQueueOptions = {},
  ) {
    this.connection = new AmqpConnection(
      url,
      {
        connectionName: `nexusflow-work-queue:${name}`,
        declarePublishing: (channel) => channel.assertQueue(name, { durable: true }),
        ...(options.enqueueTimeoutMs === undefined ? {} : { operationTimeoutMs: options.enqueueTimeoutMs }),
        ...(options.maxReconnectDelayMs === undefined ? {} : { maxReconnectDelayMs: options.maxReconnectDelayMs }),
      },
      logger,
    );
  }

  async enqueue(message: T, options: WorkQueueEnqueueOptions = {}): Promise<void> {
    const delayMs = delayOf(options);
    const publishing = options.waitForReconnection === undefined ? {} : { waitForReconnection: options.waitForReconnection };
    if (delayMs === 0) return this.connection.publish({ exchange: '', routingKey: this.name }, message, {}, undefined, publishing);
    // One queue per delay keeps expiry in order: a queue only expires the message at its head.
    const delayQueue = `${this.name}.delay.${delayMs}`;
    await this.connection.publish(
      { exchange: '', routingKey: delayQueue },
      message,
      {},
      (channel) =>
        // Declared on every use, which also restarts its idle timer: it cannot expire under a waiting message.
        channel.assertQueue(delayQueue, {
          durable: true,
          arguments: {
            'x-message-ttl': delayMs,
            'x-dead-letter-exchange': '',
            'x-dead-letter-routing-key': this.name,
            'x-expires': delayMs + 60_000,
          },
        }),
      publishing,
    );
  }

  consume(handler: WorkQueueHandler<T>, options: WorkQueueConsumeOptions = {}): Promise<{ stop(): Promise<void> }> {
    return this.connection.consume(
      {
        queue: this.name,
        prefetch: options.concurrency ?? DEFAULT_CONCURRENCY,
        declare: (channel) => channel.assertQueue(this.name, { durable: true }),
      },
      handler as (body: unknown, delivery: WorkQueueDelivery) => Promise<void>,
    );
  }

  onReconnected(listener: () => void): () => void {
    return this.connection.onReconnected(listener);
  }

  async ping(): Promise<void> {
    await this.connection.ping((channel) => channel.checkQueue(this.name));
  }

  /** Stops every consumer, waiting for its handlers in flight, then disconnects. */
  close(): Promise<void> {
    return this.connection.close();
  }

  /**
   * For tests only: drops the connection abruptly, as a network failure does. With `reconnect: false`
   * the instance stays down like a killed worker, leaving its unacknowledged messages to the others.
   */
  severConnectionForTesting(options: { reconnect: boolean }): void {
    this.connection.severForTesting(options);
  }
}

export function createWorkQueue<T>(amqpUrl: string | undefined, name: string, logger: Logger): WorkQueue<T> {
  return amqpUrl ? new RabbitWorkQueue<T>(amqpUrl, name, logger) : new InMemoryWorkQueue<T>(name, logger);
}
