import type { Channel } from 'amqplib';
import { AmqpConnection } from './amqp-connection.ts';
import type { Logger } from '../platform/logger.ts';
import { InMemoryWorkQueue } from './work-queue.ts';

/** Something that happened in one service that others may react to. Travels as JSON. */
export interface DomainEvent {
  /** Unique per event, so that subscribers can recognise a redelivered one. */
  id: string;
  /** Dot-separated words, most general first, e.g. `workflow.execution.failed`; the routing key. */
  type: string;
  /** ISO 8601. */
  occurredAt: string;
  tenantId?: string;
  payload: Record<string, unknown>;
}

export interface EventSubscription {
  /**
   * The subscriber's durable queue. Subscriptions sharing a queue name compete for its events (each
   * gets some); subscriptions with different queue names each get every matching event.
   */
  queue: string;
  /** AMQP topic patterns: `*` is exactly one word, `#` zero or more, e.g. `workflow.execution.*`. */
  bindings: string[];
  /** Events handled at once by this subscription. @default 8 */
  concurrency?: number;
}

export type EventHandler = (event: DomainEvent, delivery: { redelivered: boolean }) => Promise<void>;

/**
 * Domain events between services. Delivery is at least once, and an event published while no queue
 * is bound to its type reaches no one. A queue keeps its bindings and collects matching events even
 * while no subscriber is running, so removing a pattern from the code does not unbind it.
 */
export interface EventBus {
  /** Resolves once the broker has confirmed the event. */
  publish(event: DomainEvent): Promise<void>;
  /** A handler that resolves acknowledges its event; one that rejects has it requeued and delivered again. */
  subscribe(subscription: EventSubscription, handler: EventHandler): Promise<{ stop(): Promise<void> }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const EVENTS_EXCHANGE = 'nexusflow.events';

const words = (key: string): string[] => (key === '' ? [] : key.split('.'));

/** Whether an AMQP topic pattern matches a routing key, with RabbitMQ's semantics. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  // Adjacent `#`s match what one does; collapsing them keeps the backtracking below linear for them.
  const patternWords = words(pattern).filter((word, index, all) => word !== '#' || all[index - 1] !== '#');
  const keyWords = words(routingKey);
  const matchFrom = (p: number, k: number): boolean => {
    if (p === patternWords.length) return k === keyWords.length;
    const word = patternWords[p];
    if (word === '#') {
      for (let skipped = k; skipped <= keyWords.length; skipped += 1) if (matchFrom(p + 1, skipped)) return true;
      return false;
    }
    return k < keyWords.length && (word === '*' || word === keyWords[k]) && matchFrom(p + 1, k + 1);
  };
  return matchFrom(0, 0);
}

export class InMemoryEventBus implements EventBus {
  /** Queues live as long as the bus, like durable queues on a broker, keeping events for a later subscriber. */
  private readonly queues = new Map<string, { bindings: Set<string>; events: InMemoryWorkQueue<DomainEvent> }>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  async publish(event: DomainEvent): Promise<void> {
    if (this.closed) throw new Error(`cannot publish "${event.type}": the event bus is closed`);
    const matching = [...this.queues.values()].filter(({ bindings }) => [...bindings].some((pattern) => topicMatches(pattern, event.type)));
    await Promise.all(matching.map(({ events }) => events.enqueue(event)));
  }

  async subscribe(subscription: EventSubscription, handler: EventHandler): Promise<{ stop(): Promise<void> }> {
    if (this.closed) throw new Error(`cannot subscribe "${subscription.queue}": the event bus is closed`);
    let queue = this.queues.get(subscription.queue);
    if (!queue) {
      queue = { bindings: new Set(), events: new InMemoryWorkQueue<DomainEvent>(subscription.queue, this.logger) };
      this.queues.set(subscription.queue, queue);
    }
    for (const pattern of subscription.bindings) queue.bindings.add(pattern);
    return queue.events.consume(handler, subscription.concurrency === undefined ? {} : { concurrency: subscription.concurrency });
  }

  async ping(): Promise<void> {}

  /** Stops every subscription, waiting for its handlers in flight. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.queues.values()].map(({ events }) => events.close()));
    this.queues.clear();
  }
}

export interface RabbitEventBusOptions {
  /** Lets tests use an exchange of their own, so that parallel runs never see each other's events. @default EVENTS_EXCHANGE */
  exchange?: string;
  /** How long publish() may wait for the broker's confirm, reconnection included. @default 5000 */
  publishTimeoutMs?: number;
  /** The cap of the backoff between reconnection attempts. @default 5000 */
  maxReconnectDelayMs?: number;
}

/** Persistent events on the durable topic exchange {@link EVENTS_EXCHANGE}, routed by their type. */
export class RabbitEventBus implements EventBus {
  private readonly connection: AmqpConnection;
  private readonly exchange: string;

  constructor(url: string, logger: Logger, options: RabbitEventBusOptions = {}) {
    this.exchange = options.exchange ?? EVENTS_EXCHANGE;
    this.connection = new AmqpConnection(
      url,
      {
        connectionName: 'nexusflow-events',
        declarePublishing: (channel) => this.declareExchange(channel),
        ...(options.publishTimeoutMs === undefined ? {} : { operationTimeoutMs: options.publishTimeoutMs }),
        ...(options.maxReconnectDelayMs === undefined ? {} : { maxReconnectDelayMs: options.maxReconnectDelayMs }),
      },
      logger,
    );
  }

  private declareExchange(channel: Channel) {
    return channel.assertExchange(this.exchange, 'topic', { durable: true });
  }

  publish(event: DomainEvent): Promise<void> {
    return this.connection.publish({ exchange: this.exchange, routingKey: event.type }, event, { messageId: event.id, type: event.type });
  }

  subscribe(subscription: EventSubscription, handler: EventHandler): Promise<{ stop(): Promise<void> }> {
    const { queue, bindings } = subscription;
    return this.connection.consume(
      {
        queue,
        prefetch: subscription.concurrency ?? 8,
        declare: async (channel) => {
          await this.declareExchange(channel);
          await channel.assertQueue(queue, { durable: true });
          for (const pattern of bindings) await channel.bindQueue(queue, this.exchange, pattern);
        },
      },
      handler as (body: unknown, delivery: { redelivered: boolean }) => Promise<void>,
    );
  }

  async ping(): Promise<void> {
    await this.connection.ping((channel) => channel.checkExchange(this.exchange));
  }

  /** Stops every subscription, waiting for its handlers in flight, then disconnects. */
  close(): Promise<void> {
    return this.connection.close();
  }
}

const sharedBuses = new Map<string, { bus: InMemoryEventBus; users: number }>();

/**
 * A handle on the process-wide in-memory bus of a namespace, so that services started in one process
 * exchange events as they would through a broker. Closing a handle stops its own subscriptions; the
 * bus goes when its last handle does.
 */
class SharedInMemoryEventBus implements EventBus {
  private readonly subscriptions = new Set<{ stop(): Promise<void> }>();
  private closed = false;

  constructor(
    private readonly namespace: string,
    logger: Logger,
  ) {
    const shared = sharedBuses.get(namespace) ?? { bus: new InMemoryEventBus(logger), users: 0 };
    shared.users += 1;
    sharedBuses.set(namespace, shared);
  }

  private get bus(): InMemoryEventBus {
    return sharedBuses.get(this.namespace)!.bus;
  }

  publish(event: DomainEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`cannot publish "${event.type}": the event bus is closed`));
    return this.bus.publish(event);
  }

  async subscribe(subscription: EventSubscription, handler: EventHandler): Promise<{ stop(): Promise<void> }> {
    const consumer = await this.bus.subscribe(subscription, handler);
    this.subscriptions.add(consumer);
    return {
      stop: async () => {
        this.subscriptions.delete(consumer);
        await consumer.stop();
      },
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    const shared = sharedBuses.get(this.namespace);
    if (!shared) return;
    shared.users -= 1;
    if (shared.users === 0) {
      sharedBuses.delete(this.namespace);
      await shared.bus.close();
    }
  }
}

/**
 * @param namespace prefixes the exchange (`<namespace>.events`), so that deployments sharing a broker
 * stay apart; without a broker, services of one namespace in one process share one in-memory bus.
 * @default 'nexusflow'
 */
export function createEventBus(amqpUrl: string | undefined, logger: Logger, namespace = 'nexusflow'): EventBus {
  return amqpUrl ? new RabbitEventBus(amqpUrl, logger, { exchange: `${namespace}.events` }) : new SharedInMemoryEventBus(namespace, logger);
}
