import type { AsyncQueue } from './async-queue.ts';
import { Broadcast, type BroadcastGroup } from './broadcast.ts';

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

/** The subscriptions of one process, by topic: what a pub/sub delivers to. */
export class TopicListeners {
  private readonly byTopic = new Broadcast<unknown>();

  /**
   * A subscription to `topic`. `onFirst` runs when it is the topic's first, with what ends all of the topic's
   * subscriptions should its source refuse it; `onLast` when the topic's last one leaves. The pub/sub thus subscribes
   * and unsubscribes its source once per topic.
   */
  listen<T>(
    topic: string,
    options: SubscribeOptions,
    hooks: { onFirst?: (topicGroup: Pick<BroadcastGroup<unknown>, 'end'>) => void; onLast?: () => void } = {},
  ): AsyncQueue<T> {
    const reportMissed = options.reportMissed ?? false;
    return this.byTopic.subscribe(topic, {
      ...hooks,
      ...(reportMissed ? {} : { accepts: (value) => !(value instanceof MissedEvents) }),
    }) as AsyncQueue<T>;
  }

  deliver(topic: string, payload: unknown): void {
    this.byTopic.publish(topic, payload);
  }

  /** Tells the listeners of `topic` (of every topic without one) that asked for it that they may have missed events. */
  reportMissed(topic: string | undefined, missed: MissedEvents): void {
    if (topic === undefined) this.byTopic.publishToAll(missed);
    else this.byTopic.publish(topic, missed);
  }

  topics(): string[] {
    return this.byTopic.keys();
  }

  endAll(): void {
    this.byTopic.endAll();
  }
}
