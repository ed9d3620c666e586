import type { Logger } from '../platform/logger.ts';
import { TopicListeners, type MissedEvents, type SubscribeOptions } from './pubsub-listeners.ts';
import { RedisPubSub } from './redis-pubsub.ts';

export { MissedEvents, MISSED_EVENTS_ALLOWANCE_MS, type SubscribeOptions } from './pubsub-listeners.ts';
export { RedisPubSub, type RedisPubSubOptions } from './redis-pubsub.ts';

/**
 * Fan-out of live events between processes. Production uses Redis so that an event published by one
 * instance reaches subscribers connected to any instance; the embedded default keeps it in-process.
 */
export interface PubSub {
  /**
   * Resolves once the fan-out accepted the event. Rejects while it is out of reach; the topic's subscribers that asked
   * for it then get a {@link MissedEvents} once it is back, so a caller logs the failure and carries on.
   */
  publish(topic: string, payload: unknown): Promise<void>;
  /** Iterates the topic's events from now on; `return()` on the iterator unsubscribes. */
  subscribe<T>(topic: string): AsyncIterableIterator<T>;
  /** The same, with a {@link MissedEvents} between the events wherever some may have been lost. */
  subscribe<T>(topic: string, options: SubscribeOptions & { reportMissed: true }): AsyncIterableIterator<T | MissedEvents>;
  /**
   * Resolves once the fan-out confirmed the subscription to `topic` (made with `subscribe` before), so that what is
   * read after it and the events after it leave no gap between them. Rejects at once while the fan-out is out of
   * reach: a subscription with `reportMissed` gets a {@link MissedEvents} once it is back.
   */
  subscribed(topic: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class InMemoryPubSub implements PubSub {
  private readonly listeners = new TopicListeners();

  async publish(topic: string, payload: unknown): Promise<void> {
    // Detached from the publisher's object, as it would be after a trip through Redis. Subscribers of
    // one topic share that copy (as they do with Redis), so payloads are read-only by contract.
    this.listeners.deliver(topic, structuredClone(payload));
  }

  subscribe<T>(topic: string): AsyncIterableIterator<T>;
  subscribe<T>(topic: string, options: SubscribeOptions & { reportMissed: true }): AsyncIterableIterator<T | MissedEvents>;
  /** Nothing is ever lost in one process, so `reportMissed` subscriptions receive events only. */
  subscribe<T>(topic: string, options: SubscribeOptions = {}): AsyncIterableIterator<T | MissedEvents> {
    return this.listeners.listen<T>(topic, options);
  }

  async subscribed(_topic: string): Promise<void> {}

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.listeners.endAll();
  }
}

export interface CreatePubSubOptions {
  /** Prepended to Redis channels, so that deployments sharing a Redis stay apart. @default 'nexusflow:' */
  prefix?: string;
}

export function createPubSub(redisUrl: string | undefined, logger: Logger, options: CreatePubSubOptions = {}): PubSub {
  return redisUrl ? new RedisPubSub(redisUrl, logger, options) : new InMemoryPubSub();
}
