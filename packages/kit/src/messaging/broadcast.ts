import { createAsyncQueue, type AsyncQueue } from './async-queue.ts';

/** One key's subscribers, as the source that feeds them sees it. */
export interface BroadcastGroup<T> {
  /** Hands `value` to every subscriber of this group; does nothing once the group has ended. */
  publish(value: T): void;
  /**
   * Ends every subscriber of this group, after what each has buffered (with `error`, their iteration then throws it),
   * and runs the group's `onLast`. A later subscriber of the same key starts a new group.
   */
  end(error?: Error): void;
  readonly ended: boolean;
}

export interface BroadcastSubscribeOptions<T> {
  /**
   * Runs when this subscription is its key's first, with the new group: starts the source that publishes to it. Only
   * the hooks of a key's first subscription are kept; those of the subscriptions that join it are ignored.
   */
  onFirst?: (group: BroadcastGroup<T>) => void;
  /** Runs once the group is over: its last subscriber left, or it was ended. Stops the source. */
  onLast?: () => void;
  /** Whether this subscriber receives a value; the others skip it. @default every value */
  accepts?: (value: T) => boolean;
}

export interface BroadcastOptions {
  /**
   * Hands each subscriber that joins a group later the group's latest value first: for values that carry the whole
   * state (an execution's snapshot), so that the latest one is enough to catch up. @default false
   */
  replayLatest?: boolean;
  /** Values a subscriber may fall behind by before its iteration fails (see {@link createAsyncQueue}). @default 1000 */
  limit?: number;
}

interface Subscriber<T> {
  queue: AsyncQueue<T>;
  accepts: ((value: T) => boolean) | undefined;
}

class Group<T> implements BroadcastGroup<T> {
  readonly subscribers = new Set<Subscriber<T>>();
  latest: { value: T } | undefined;
  ended = false;

  constructor(
    private readonly replayLatest: boolean,
    private readonly onEnd: (group: Group<T>) => void,
    private onLast: (() => void) | undefined,
  ) {}

  publish(value: T): void {
    if (this.ended) return;
    if (this.replayLatest) this.latest = { value };
    for (const subscriber of this.subscribers) if (!subscriber.accepts || subscriber.accepts(value)) subscriber.queue.push(value);
  }

  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(this);
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    for (const { queue } of subscribers) queue.end(error);
    this.onLast?.();
  }

  /** Ends the group without its `onLast`: its source never started. */
  abandon(): void {
    this.onLast = undefined;
    this.end();
  }

  leave(subscriber: Subscriber<T>): void {
    if (this.ended || !this.subscribers.delete(subscriber)) return;
    if (this.subscribers.size === 0) this.end();
  }
}

/**
 * Fan-out of values to keyed groups of subscribers, each an {@link AsyncQueue} of its own: the first subscriber of a
 * key starts its source (`onFirst`), the last one to leave stops it (`onLast`), so that a thousand subscribers of one
 * key cost one source. A group that is over is forgotten at once, so that the groups kept are only those subscribed.
 */
export class Broadcast<T> {
  private readonly groups = new Map<string, Group<T>>();
  private readonly replayLatest: boolean;
  private readonly limit: number | undefined;

  constructor(options: BroadcastOptions = {}) {
    this.replayLatest = options.replayLatest ?? false;
    this.limit = options.limit;
  }

  /** A subscription to `key`'s values from now on (after the latest one, when replaying); `return()` leaves. */
  subscribe(key: string, options: BroadcastSubscribeOptions<T> = {}): AsyncQueue<T> {
    let group = this.groups.get(key);
    const first = !group;
    if (!group) {
      const created = new Group<T>(this.replayLatest, (ended) => this.forget(key, ended), options.onLast);
      this.groups.set(key, created);
      group = created;
    }
    const joined = group;
    const subscriber: Subscriber<T> = {
      accepts: options.accepts,
      queue: createAsyncQueue<T>({ ...(this.limit ? { limit: this.limit } : {}), onReturn: () => joined.leave(subscriber) }),
    };
    joined.subscribers.add(subscriber);
    if (joined.latest && (!subscriber.accepts || subscriber.accepts(joined.latest.value))) subscriber.queue.push(joined.latest.value);
    if (first) {
      try {
        options.onFirst?.(joined);
      } catch (error) {
        joined.abandon();
        throw error;
      }
    }
    return subscriber.queue;
  }

  /** Hands `value` to every subscriber of `key`, if it has any. */
  publish(key: string, value: T): void {
    this.groups.get(key)?.publish(value);
  }

  /** Hands `value` to every subscriber of every key. */
  publishToAll(value: T): void {
    for (const group of [...this.groups.values()]) group.publish(value);
  }

  /** Ends `key`'s group, if it has one (see {@link BroadcastGroup.end}). */
  end(key: string, error?: Error): void {
    this.groups.get(key)?.end(error);
  }

  endAll(error?: Error): void {
    for (const group of [...this.groups.values()]) group.end(error);
  }

  has(key: string): boolean {
    return this.groups.has(key);
  }

  /** The keys with subscribers. */
  keys(): string[] {
    return [...this.groups.keys()];
  }

  /** How many keys have subscribers. */
  get size(): number {
    return this.groups.size;
  }

  private forget(key: string, group: Group<T>): void {
    if (this.groups.get(key) === group) this.groups.delete(key);
  }
}
