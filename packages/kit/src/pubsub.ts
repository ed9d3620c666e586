import { Redis } from 'ioredis';
import { createAsyncQueue, type AsyncQueue } from './async-queue.ts';
import type { Logger } from './logger.ts';

/**
 * Fan-out of live events between processes. Production uses Redis so that an event published by one
 * instance reaches subscribers connected to any instance; the embedded default keeps it in-process.
 */
export interface PubSub {
  publish(topic: string, payload: unknown): Promise<void>;
  /** Iterates the topic's events from now on; `return()` on the iterator unsubscribes. */
  subscribe<T>(topic: string): AsyncIterableIterator<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

class TopicListeners {
  private readonly byTopic = new Map<string, Set<AsyncQueue<unknown>>>();

  add(topic: string, queue: AsyncQueue<unknown>): boolean {
    let listeners = this.byTopic.get(topic);
    const first = !listeners;
    if (!listeners) this.byTopic.set(topic, (listeners = new Set()));
    listeners.add(queue);
    return first;
  }

  /** Returns whether the topic has no listeners left. */
  remove(topic: string, queue: AsyncQueue<unknown>): boolean {
    const listeners = this.byTopic.get(topic);
    if (!listeners) return false;
    listeners.delete(queue);
    if (listeners.size > 0) return false;
    this.byTopic.delete(topic);
    return true;
  }

  deliver(topic: string, payload: unknown): void {
    for (const queue of this.byTopic.get(topic) ?? []) queue.push(payload);
  }

  endAll(): void {
    for (const listeners of this.byTopic.values()) for (const queue of listeners) queue.end();
    this.byTopic.clear();
  }
}

export class InMemoryPubSub implements PubSub {
  private readonly listeners = new TopicListeners();

  async publish(topic: string, payload: unknown): Promise<void> {
    // Detached from the publisher's object, as it would be after a trip through Redis. Subscribers of
    // one topic share that copy (as they do with Redis), so payloads are read-only by contract.
    this.listeners.deliver(topic, structuredClone(payload));
  }

  subscribe<T>(topic: string): AsyncIterableIterator<T> {
    const queue: AsyncQueue<unknown> = createAsyncQueue({ onReturn: () => this.listeners.remove(topic, queue) });
    this.listeners.add(topic, queue);
    return queue as AsyncIterableIterator<T>;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.listeners.endAll();
  }
}

export class RedisPubSub implements PubSub {
  private readonly publisher: Redis;
  /** A connection in subscriber mode can issue nothing but (un)subscribe commands, hence a second one. */
  private readonly subscriber: Redis;
  private readonly listeners = new TopicListeners();

  constructor(
    url: string,
    private readonly logger: Logger,
    private readonly prefix = 'nexusflow:',
  ) {
    const options = { lazyConnect: false, maxRetriesPerRequest: 3, enableOfflineQueue: true };
    this.publisher = new Redis(url, { ...options, connectionName: 'nexusflow-publisher' });
    this.subscriber = new Redis(url, { ...options, connectionName: 'nexusflow-subscriber' });
    for (const connection of [this.publisher, this.subscriber]) {
      connection.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'redis connection error'));
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      let payload: unknown;
      try {
        payload = JSON.parse(message);
      } catch {
        this.logger.warn({ channel }, 'dropped a pub/sub message that is not JSON');
        return;
      }
      this.listeners.deliver(channel.slice(this.prefix.length), payload);
    });
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    await this.publisher.publish(this.prefix + topic, JSON.stringify(payload));
  }

  subscribe<T>(topic: string): AsyncIterableIterator<T> {
    const queue: AsyncQueue<unknown> = createAsyncQueue({
      onReturn: () => {
        if (this.listeners.remove(topic, queue)) {
          this.subscriber.unsubscribe(this.prefix + topic).catch((error: Error) => this.logger.warn({ err: error.message, topic }, 'unsubscribe failed'));
        }
      },
    });
    if (this.listeners.add(topic, queue)) {
      this.subscriber.subscribe(this.prefix + topic).catch((error: Error) => queue.end(error));
    }
    return queue as AsyncIterableIterator<T>;
  }

  /** Resolves once Redis has confirmed the subscription, so that a publish right after cannot be missed. */
  async subscribed(topic: string): Promise<void> {
    await this.subscriber.subscribe(this.prefix + topic);
  }

  async ping(): Promise<void> {
    await Promise.all([this.publisher.ping(), this.subscriber.ping()]);
  }

  async close(): Promise<void> {
    this.listeners.endAll();
    await Promise.allSettled([this.publisher.quit(), this.subscriber.quit()]);
  }
}

export function createPubSub(redisUrl: string | undefined, logger: Logger): PubSub {
  return redisUrl ? new RedisPubSub(redisUrl, logger) : new InMemoryPubSub();
}
