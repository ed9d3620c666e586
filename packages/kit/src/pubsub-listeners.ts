import { createAsyncQueue, type AsyncQueue } from './async-queue.ts';

/**
 * How far back a {@link MissedEvents} reaches before the moment the loss was noticed: the processes that stamp rows
 * (creation and update times) and the one that noticed the loss do not share a clock, and an event in flight when a
 * connection died was lost a little before its death was seen.
 */
export const MISSED_EVENTS_ALLOWANCE_MS = 5_000;

/**
 * Received between the events of a subscription made with `reportMissed`, when events of its topic may have been lost:
 * the fan-out (Redis) was out of reach of this process's subscriber connection, or of a publisher, and is back. Redis
 * pub/sub keeps nothing for a subscriber that was disconnected, so the subscriber re-reads what it streams (a
 * snapshot, what was created meanwhile) from the database, which holds the truth, and carries on.
 */
export class MissedEvents {
  /** Events published from this moment on may be lost (already moved back by {@link MISSED_EVENTS_ALLOWANCE_MS}). */
  readonly since: Date;

  constructor(lostAt: number) {
    this.since = new Date(lostAt - MISSED_EVENTS_ALLOWANCE_MS);
  }
}

export interface SubscribeOptions {
  /** Also receive a {@link MissedEvents} whenever events of the topic may have been lost. @default false */
  reportMissed?: boolean;
}

interface Listener {
  queue: AsyncQueue<unknown>;
  reportMissed: boolean;
}

/** The subscriptions of one process, by topic: what a pub/sub delivers to. */
export class TopicListeners {
  private readonly byTopic = new Map<string, Set<Listener>>();

  /**
   * A subscription to `topic`. `onFirst` runs when it is the topic's first, `onLast` when the topic's last one
   * leaves, so that the pub/sub subscribes and unsubscribes its source once per topic.
   */
  listen<T>(
    topic: string,
    options: SubscribeOptions,
    hooks: { onFirst?: (queue: AsyncQueue<unknown>) => void; onLast?: () => void } = {},
  ): AsyncQueue<T> {
    const listener: Listener = {
      reportMissed: options.reportMissed ?? false,
      queue: createAsyncQueue<unknown>({ onReturn: () => this.remove(topic, listener) && hooks.onLast?.() }),
    };
    let listeners = this.byTopic.get(topic);
    const first = !listeners;
    if (!listeners) this.byTopic.set(topic, (listeners = new Set()));
    listeners.add(listener);
    if (first) hooks.onFirst?.(listener.queue);
    return listener.queue as AsyncQueue<T>;
  }

  /** Returns whether the topic has no listeners left. */
  private remove(topic: string, listener: Listener): boolean {
    const listeners = this.byTopic.get(topic);
    if (!listeners) return false;
    listeners.delete(listener);
    if (listeners.size > 0) return false;
    this.byTopic.delete(topic);
    return true;
  }

  deliver(topic: string, payload: unknown): void {
    for (const listener of this.byTopic.get(topic) ?? []) listener.queue.push(payload);
  }

  /** Tells the listeners of `topic` (of every topic without one) that asked for it that they may have missed events. */
  reportMissed(topic: string | undefined, missed: MissedEvents): void {
    const sets = topic === undefined ? [...this.byTopic.values()] : [this.byTopic.get(topic) ?? new Set<Listener>()];
    for (const listeners of sets) for (const listener of listeners) if (listener.reportMissed) listener.queue.push(missed);
  }

  topics(): string[] {
    return [...this.byTopic.keys()];
  }

  endAll(): void {
    for (const listeners of this.byTopic.values()) for (const listener of listeners) listener.queue.end();
    this.byTopic.clear();
  }
}
