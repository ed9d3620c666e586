import type { Socket } from 'node:net';
import { inspect } from 'node:util';
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import type { Logger } from '../platform/logger.ts';
import { DependencyUnavailableError } from '../platform/outages.ts';
import { activeTracer, endWhenSettled, isTracing, startProducerSpan, traceConsumption } from '../platform/telemetry.ts';

/**
 * The RabbitMQ plumbing shared by the work queue and the event bus: one connection that comes back
 * after the broker restarts, a confirming publisher, and consumers that resume on every new
 * connection. Internal to the kit; the public surface is `WorkQueue` and `EventBus`.
 */

export interface AmqpConnectionOptions {
  /** Shown in the RabbitMQ management UI, so that an operator can tell the connections apart. */
  connectionName: string;
  /** Declares what publishing relies on (a queue, an exchange) on each new publisher channel. */
  declarePublishing(channel: Channel): Promise<unknown>;
  /**
   * How long a publish (or a ping) may wait for the broker, reconnection included. Past it the
   * publish rejects rather than holding the caller, whose state is in a database and can be retried.
   * @default 5000
   */
  operationTimeoutMs?: number;
  /** The cap of the exponential backoff between reconnection attempts. @default 5000 */
  maxReconnectDelayMs?: number;
}

export interface AmqpConsumerOptions {
  queue: string;
  /** Unacknowledged messages the broker hands this consumer at once, hence handlers running at once. */
  prefetch: number;
  /** Declares the queue (and its bindings) on each new connection, before consuming from it. */
  declare(channel: Channel): Promise<unknown>;
}

export interface AmqpPublishOptions {
  /**
   * While the broker is known to be unreachable (a connection was lost, or could not be made, and none is back yet),
   * wait for it to come back, up to the operation timeout. False rejects at once instead, with a
   * {@link DependencyUnavailableError}: for a caller whose state is durable and who sends again once
   * {@link AmqpConnection.onReconnected} says the broker is back. A first connection still being made is waited for
   * either way, since no reconnection would follow it.
   * @default true
   */
  waitForReconnection?: boolean;
}

export type AmqpDeliveryHandler = (body: unknown, delivery: { redelivered: boolean }) => Promise<void>;

/** Runs on every new connection until detached, e.g. to resume a consumer. */
interface Attachment {
  start(model: ChannelModel): Promise<void>;
  started: PromiseWithResolvers<void>;
  hasStarted: boolean;
}

const INITIAL_RECONNECT_DELAY_MS = 100;
/** A broker that accepts no TCP connection within this is treated like one that refuses it. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Why a publish's own waits end once it has settled, either way; nobody sees it. */
const SETTLED = Symbol('settled');
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Acknowledgements on a channel that has since closed throw; the broker has requeued those messages already. */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // Nothing to do: the broker redelivers what the closed channel left unacknowledged.
  }
}

export class AmqpConnection {
  private readonly operationTimeoutMs: number;
  private readonly maxReconnectDelayMs: number;
  /** The open connection whose attachments have all started; publishers and new consumers use only this. */
  private ready: ChannelModel | undefined;
  /** The open connection, possibly still starting its attachments. */
  private current: ChannelModel | undefined;
  private publisher: Promise<ConfirmChannel> | undefined;
  private readonly readyWaiters = new Set<{ resolve(model: ChannelModel): void; reject(error: Error): void }>();
  private readonly attachments = new Set<Attachment>();
  private readonly consumerStops = new Set<() => Promise<void>>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  /** A connection was lost, or could not be made, and none is ready since: what {@link onReconnected} ends. */
  private unreachable = false;
  private readonly reconnectedListeners = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly options: AmqpConnectionOptions,
    private readonly logger: Logger,
  ) {
    this.operationTimeoutMs = options.operationTimeoutMs ?? 5000;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 5000;
    void this.connect();
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = undefined;
    let model: ChannelModel;
    try {
      model = await connect(this.url, {
        clientProperties: { connection_name: this.options.connectionName },
        timeout: CONNECT_TIMEOUT_MS,
        // amqplib leaves Nagle's algorithm on: a frame written while the previous one awaits the broker's delayed ACK
        // (an acknowledgement, then the next publish) waits ~40 ms for it, a fixed cost on every step of a workflow.
        noDelay: true,
      });
    } catch (error) {
      this.logger.warn({ err: messageOf(error), connection: this.options.connectionName }, 'could not connect to RabbitMQ');
      this.unreachable = true;
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      await model.close().catch(() => undefined);
      return;
    }
    model.on('error', (error: Error) =>
      this.logger.warn({ err: error.message, connection: this.options.connectionName }, 'RabbitMQ connection error'),
    );
    model.on('close', () => this.lost(model));
    this.current = model;
    // A set iterates entries added while it is being iterated, so consumers attached meanwhile start too.
    for (const attachment of this.attachments) {
      try {
        await this.start(attachment, model);
      } catch (error) {
        if (this.current !== model) return;
        // A consumer that had been running cannot resume: start over on a new connection, with backoff.
        this.logger.warn(
          { err: messageOf(error), connection: this.options.connectionName },
          'could not resume a RabbitMQ consumer; reconnecting',
        );
        await model.close().catch(() => undefined);
        return;
      }
      if (this.current !== model) return;
    }
    this.failedAttempts = 0;
    this.ready = model;
    for (const waiter of this.readyWaiters) waiter.resolve(model);
    this.readyWaiters.clear();
    this.logger.info({ connection: this.options.connectionName }, 'connected to RabbitMQ');
    if (this.unreachable) {
      this.unreachable = false;
      for (const listener of this.reconnectedListeners) this.notifyReconnected(listener);
    }
  }

  private notifyReconnected(listener: () => void): void {
    try {
      listener();
    } catch (error) {
      this.logger.warn({ err: messageOf(error), connection: this.options.connectionName }, 'a RabbitMQ reconnection listener failed');
    }
  }

  /**
   * Calls `listener` each time the broker can be used again after it could not: a connection is ready after one was
   * lost or could not be made (not after a first attempt that succeeds). Returns a function that removes it.
   */
  onReconnected(listener: () => void): () => void {
    this.reconnectedListeners.add(listener);
    return () => this.reconnectedListeners.delete(listener);
  }

  private lost(model: ChannelModel): void {
    if (this.current !== model) return;
    this.current = undefined;
    this.ready = undefined;
    this.publisher = undefined;
    if (this.closed) return;
    this.unreachable = true;
    this.logger.warn({ connection: this.options.connectionName }, 'lost the RabbitMQ connection; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const ceiling = Math.min(this.maxReconnectDelayMs, INITIAL_RECONNECT_DELAY_MS * 2 ** this.failedAttempts);
    this.failedAttempts += 1;
    // Jitter, so that every instance does not hit a restarted broker in the same instant.
    const delay = Math.round(ceiling * (0.5 + Math.random() / 2));
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  /**
   * Rejects only for a failure of the consumer's first start on a healthy connection (the broker
   * refused a declaration), so that the caller hears about it; other failures are the reconnect loop's.
   */
  private async start(attachment: Attachment, model: ChannelModel): Promise<void> {
    try {
      await attachment.start(model);
    } catch (error) {
      if (attachment.hasStarted) throw error;
      if (this.current === model) {
        this.attachments.delete(attachment);
        attachment.started.reject(error);
      }
      return;
    }
    attachment.hasStarted = true;
    attachment.started.resolve();
  }

  private waitUntilReady(signal: AbortSignal): Promise<ChannelModel> {
    if (this.ready) return Promise.resolve(this.ready);
    if (this.closed) return Promise.reject(new Error('the RabbitMQ connection is closed'));
    return new Promise((resolve, reject) => {
      const abort = () => {
        this.readyWaiters.delete(waiter);
        reject(signal.reason);
      };
      const waiter = {
        resolve(model: ChannelModel) {
          signal.removeEventListener('abort', abort);
          resolve(model);
        },
        reject(error: Error) {
          signal.removeEventListener('abort', abort);
          reject(error);
        },
      };
      this.readyWaiters.add(waiter);
      signal.addEventListener('abort', abort, { once: true });
    });
  }

  private publisherChannel(model: ChannelModel): Promise<ConfirmChannel> {
    if (this.publisher) return this.publisher;
    const created = (async () => {
      const channel = await model.createConfirmChannel();
      channel.on('error', (error: Error) =>
        this.logger.warn({ err: error.message, connection: this.options.connectionName }, 'RabbitMQ publisher channel error'),
      );
      channel.on('close', () => {
        if (this.publisher === created) this.publisher = undefined;
      });
      await this.options.declarePublishing(channel);
      return channel;
    })();
    this.publisher = created;
    created.catch(() => {
      if (this.publisher === created) this.publisher = undefined;
    });
    return created;
  }

  /** Runs `work` with the publisher channel, rejecting with a clear error once the operation timeout has passed. */
  private async withPublisher<T>(
    what: string,
    work: (channel: ConfirmChannel) => Promise<T>,
    options: AmqpPublishOptions = {},
  ): Promise<T> {
    if (this.closed) throw new Error(`cannot ${what}: the RabbitMQ connection is closed`);
    const waitForReconnection = options.waitForReconnection ?? true;
    const controller = new AbortController();
    // The error is made only if it happens: its stack costs more than the rest of a publish.
    const timer = setTimeout(
      () =>
        controller.abort(new DependencyUnavailableError(`cannot ${what}: RabbitMQ did not answer within ${this.operationTimeoutMs} ms`)),
      this.operationTimeoutMs,
    );
    const aborted = new Promise<never>((_, reject) =>
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }),
    );
    const attempt = async () => {
      for (;;) {
        if (!waitForReconnection && this.unreachable) throw new DependencyUnavailableError(`cannot ${what}: RabbitMQ is unreachable`);
        const model = await this.waitUntilReady(controller.signal);
        try {
          return await work(await this.publisherChannel(model));
        } catch (error) {
          if (controller.signal.aborted || this.closed || this.ready === model) throw error;
          // The connection went down mid-way. The message may have arrived or not; sending it again on
          // the next connection keeps delivery at least once.
        }
      }
    };
    try {
      return await Promise.race([aborted, attempt()]);
    } finally {
      clearTimeout(timer);
      // With a reason of its own, so that no AbortError (a DOMException, with its stack) is made for nothing.
      controller.abort(SETTLED);
    }
  }

  /**
   * Resolves once the broker has confirmed the message. A timeout does not retract it: the broker may
   * still take it, so deliveries are at least once and consumers must tolerate duplicates.
   */
  publish(
    target: { exchange: string; routingKey: string },
    body: unknown,
    properties: Options.Publish = {},
    prepare?: (channel: Channel) => Promise<unknown>,
    options: AmqpPublishOptions = {},
  ): Promise<void> {
    const content = Buffer.from(JSON.stringify(body) ?? 'null');
    // The W3C trace context travels in the message's headers, so that its consumer's span continues the publisher's trace.
    const producer = isTracing()
      ? startProducerSpan(`publish ${target.routingKey}`, {
          'messaging.system': 'rabbitmq',
          'messaging.operation.type': 'send',
          'messaging.destination.name': target.exchange === '' ? target.routingKey : target.exchange,
          'messaging.rabbitmq.destination.routing_key': target.routingKey,
          ...(properties.messageId ? { 'messaging.message.id': String(properties.messageId) } : {}),
        })
      : undefined;
    const headers = properties.headers as Record<string, unknown> | undefined;
    const sent = producer ? { ...properties, headers: { ...headers, ...producer.headers } } : properties;
    return endWhenSettled(producer?.span, this.sendConfirmed(target, content, sent, prepare, options));
  }

  private sendConfirmed(
    target: { exchange: string; routingKey: string },
    content: Buffer,
    properties: Options.Publish,
    prepare: ((channel: Channel) => Promise<unknown>) | undefined,
    options: AmqpPublishOptions,
  ): Promise<void> {
    return this.withPublisher(
      `publish to "${target.routingKey}"`,
      async (channel) => {
        await prepare?.(channel);
        await new Promise<void>((resolve, reject) => {
          channel.publish(
            target.exchange,
            target.routingKey,
            content,
            { persistent: true, contentType: 'application/json', ...properties },
            (error: unknown) =>
              error ? reject(error instanceof Error ? error : new Error(`the broker refused the message: ${inspect(error)}`)) : resolve(),
          );
        });
      },
      options,
    );
  }

  /** Answers once a round trip through the publisher channel succeeded. */
  async ping(check: (channel: Channel) => Promise<unknown>): Promise<void> {
    await this.withPublisher('ping', check);
  }

  /**
   * Consumes with manual acknowledgement: a handler that resolves acks its message, one that rejects
   * requeues it, and one still running when the connection goes leaves it to the broker, which hands
   * it out again. Resumes on every new connection. Resolves once consuming has started; while the
   * broker is unreachable that waits, because a consumer has nothing better to do.
   */
  async consume(options: AmqpConsumerOptions, handler: AmqpDeliveryHandler): Promise<{ stop(): Promise<void> }> {
    if (this.closed) throw new Error(`cannot consume from "${options.queue}": the RabbitMQ connection is closed`);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${options.prefetch}`);
    const inFlight = new Set<Promise<void>>();
    let channel: Channel | undefined;
    let consumerTag: string | undefined;
    let stopping = false;
    // The consuming service's tracer, as active where it started consuming: deliveries arrive in the connection's context.
    const tracer = activeTracer();

    const onMessage = (model: ChannelModel, from: Channel, message: ConsumeMessage | null) => {
      if (message === null) {
        if (stopping) return;
        // The broker cancelled the consumer (its queue was deleted); a new connection declares it again.
        this.logger.warn({ queue: options.queue }, 'RabbitMQ cancelled a consumer; reconnecting');
        void model.close().catch(() => undefined);
        return;
      }
      if (stopping) return settle(() => from.nack(message, false, true));
      let body: unknown;
      try {
        body = JSON.parse(message.content.toString('utf8'));
      } catch {
        this.logger.warn({ queue: options.queue, messageId: message.properties.messageId }, 'dropped a message that is not JSON');
        return settle(() => from.nack(message, false, false));
      }
      const handled = (async () => {
        try {
          await traceConsumption(
            tracer,
            `process ${options.queue}`,
            message.properties.headers,
            { 'messaging.system': 'rabbitmq', 'messaging.operation.type': 'process', 'messaging.destination.name': options.queue },
            () => handler(body, { redelivered: message.fields.redelivered }),
          );
          settle(() => from.ack(message));
        } catch (error) {
          this.logger.warn(
            { err: messageOf(error), queue: options.queue, messageId: message.properties.messageId },
            'message handler failed; requeued the message',
          );
          settle(() => from.nack(message, false, true));
        }
      })();
      inFlight.add(handled);
      void handled.finally(() => inFlight.delete(handled));
    };

    const attachment: Attachment = {
      start: async (model) => {
        const opened = await model.createChannel();
        opened.on('error', (error: Error) =>
          this.logger.warn({ err: error.message, queue: options.queue }, 'RabbitMQ consumer channel error'),
        );
        opened.on('close', () => {
          if (channel !== opened) return;
          channel = undefined;
          // Closed by the broker while the connection stays up: start over rather than consume nothing.
          // Channels close just before their connection does, so whether it stays up is known a moment later.
          queueMicrotask(() => {
            if (!stopping && this.current === model) void model.close().catch(() => undefined);
          });
        });
        try {
          await opened.prefetch(options.prefetch);
          await options.declare(opened);
          channel = opened;
          ({ consumerTag } = await opened.consume(options.queue, (message) => onMessage(model, opened, message), { noAck: false }));
        } catch (error) {
          channel = undefined;
          await opened.close().catch(() => undefined);
          throw error;
        }
      },
      started: Promise.withResolvers<void>(),
      hasStarted: false,
    };

    const stop = async () => {
      if (stopping) return;
      stopping = true;
      this.attachments.delete(attachment);
      this.consumerStops.delete(stop);
      attachment.started.reject(new Error(`stopped consuming from "${options.queue}"`));
      const last = channel;
      if (last && consumerTag) await last.cancel(consumerTag).catch(() => undefined);
      await Promise.all(inFlight);
      await last?.close().catch(() => undefined);
    };

    attachment.started.promise.catch(() => undefined);
    this.attachments.add(attachment);
    this.consumerStops.add(stop);
    // Otherwise the connection loop starts it, when it (re)connects.
    if (this.ready) await this.start(attachment, this.ready);
    try {
      await attachment.started.promise;
    } catch (error) {
      this.consumerStops.delete(stop);
      throw error;
    }
    return { stop };
  }

  /**
   * For tests only: drops the TCP connection without the AMQP goodbye, as a network failure or a
   * killed process does. With `reconnect: false` this instance stays dead, like a crashed worker.
   */
  severForTesting(options: { reconnect: boolean }): void {
    if (!options.reconnect) {
      this.closed = true;
      clearTimeout(this.reconnectTimer);
    }
    const model = this.current;
    if (!model) throw new Error('not connected to RabbitMQ');
    (model.connection as unknown as { stream: Socket }).stream.destroy(new Error('connection severed by a test'));
  }

  /** Stops every consumer (waiting for its handlers in flight), then closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.reconnectedListeners.clear();
    clearTimeout(this.reconnectTimer);
    const closing = new Error('the RabbitMQ connection is closed');
    for (const waiter of this.readyWaiters) waiter.reject(closing);
    this.readyWaiters.clear();
    await Promise.all([...this.consumerStops].map((stop) => stop()));
    for (const attachment of this.attachments) attachment.started.reject(closing);
    this.attachments.clear();
    const model = this.current;
    this.current = undefined;
    this.ready = undefined;
    this.publisher = undefined;
    await model?.close().catch(() => undefined);
  }
}
