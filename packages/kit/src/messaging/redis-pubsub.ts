import { Redis } from 'ioredis';
import type { Logger } from '../platform/logger.ts';
import { MissedEvents, TopicListeners, type SubscribeOptions } from './pubsub-listeners.ts';
import type { PubSub } from './pubsub.ts';

/**
 * What a message on a topic's channel carries instead of a payload to say that the topic's events published since the
 * time that follows it were lost. A JSON payload never starts with `!`.
 */
const MISSED_MARKER = '!missed ';
/** The topic of markers that concern every topic, when a publisher lost more topics' events than it keeps track of. */
const EVERY_TOPIC = '!every-topic';

export interface RedisPubSubOptions {
  /** Prepended to every channel, so that deployments sharing a Redis stay apart. @default 'nexusflow:' */
  prefix?: string;
  /** How long a publish may wait for Redis before it counts as failed. @default 2000 */
  publishTimeoutMs?: number;
  /** After a failed publish, publishes fail at once for this long before one tries Redis again. @default 1000 */
  retryPublishAfterMs?: number;
  /**
   * Topics a publisher keeps track of while Redis is out of reach, to tell their subscribers once it is back; past
   * this many it tells every subscriber instead. @default 10000
   */
  maxLostTopics?: number;
  /**
   * The longest wait between two attempts to reconnect (they start at 50 ms and double), so that live updates resume
   * within about this long of Redis' return. @default 1000
   */
  maxReconnectDelayMs?: number;
}

/** Where one topic's (or every topic's) lost events start, and the latest loss, so that a loss during the telling is kept. */
interface Loss {
  since: number;
  latest: number;
}

/**
 * Pub/sub over Redis, which keeps nothing for a subscriber that is disconnected: whenever events may have been lost,
 * subscriptions made with `reportMissed` are told with a {@link MissedEvents} once Redis is back. Either side may have
 * lost them. This process's subscriber connection dropped: once it is back and Redis confirmed every topic again,
 * each of them is told. A publish failed (its connection is down, or Redis did not answer in time): the publisher
 * remembers the topic and, once Redis answers again, sends a marker on it that its subscribers in every process turn
 * into a {@link MissedEvents}.
 */
export class RedisPubSub implements PubSub {
  private readonly publisher: Redis;
  /** A connection in subscriber mode can issue nothing but (un)subscribe commands, hence a second one. */
  private readonly subscriber: Redis;
  private readonly listeners = new TopicListeners();
  private readonly prefix: string;
  private readonly retryPublishAfterMs: number;
  private readonly maxLostTopics: number;
  private closing = false;

  /** Since when the subscriber connection has been down (or Redis not yet confirmed every topic again). */
  private subscriberLostSince: number | undefined;
  /** Counts the subscriber connection's closes, so that one during a resubscription is not taken as recovered. */
  private subscriberCloses = 0;

  /** Since when publishes have been failing. */
  private publisherLostSince: number | undefined;
  private retryPublishAt = 0;
  private readonly lostTopics = new Map<string, Loss>();
  private everyTopicLost: Loss | undefined;
  private losses = 0;
  private telling: Promise<void> | undefined;
  private tellTimer: NodeJS.Timeout | undefined;

  constructor(
    url: string,
    private readonly logger: Logger,
    options: RedisPubSubOptions = {},
  ) {
    this.prefix = options.prefix ?? 'nexusflow:';
    this.retryPublishAfterMs = options.retryPublishAfterMs ?? 1000;
    this.maxLostTopics = options.maxLostTopics ?? 10_000;
    const maxReconnectDelayMs = options.maxReconnectDelayMs ?? 1000;
    const shared = {
      lazyConnect: false,
      maxRetriesPerRequest: 3,
      enableOfflineQueue: true,
      // Jittered, so that the instances of a deployment do not all come back in the same millisecond.
      retryStrategy: (attempt: number) => Math.round(Math.min(50 * 2 ** (attempt - 1), maxReconnectDelayMs) * (0.8 + Math.random() * 0.2)),
    };
    this.publisher = new Redis(url, { ...shared, connectionName: 'nexusflow-publisher', commandTimeout: options.publishTimeoutMs ?? 2000 });
    // Resubscribed by this class, which then knows when Redis confirmed every topic again.
    this.subscriber = new Redis(url, { ...shared, connectionName: 'nexusflow-subscriber', autoResubscribe: false });
    for (const [name, connection] of [
      ['publisher', this.publisher],
      ['subscriber', this.subscriber],
    ] as const) {
      // Once per outage: a reconnection attempt fails every second while Redis is away.
      let reported = false;
      connection.on('error', (error: Error) => {
        if (reported) return this.logger.debug({ err: error.message, connection: name }, 'redis connection error');
        reported = true;
        this.logger.warn({ err: error.message, connection: name }, 'redis connection error; reconnecting');
      });
      connection.on('ready', () => {
        if (reported) this.logger.info({ connection: name }, 'redis connection restored');
        reported = false;
      });
    }
    this.subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));
    this.subscriber.on('close', () => {
      this.subscriberCloses += 1;
      if (!this.closing) this.subscriberLostSince ??= Date.now();
    });
    this.subscriber.on('ready', () => void this.resubscribe());
    this.publisher.on('close', () => {
      if (!this.closing) this.publisherLostSince ??= Date.now();
    });
    this.publisher.on('ready', () => {
      this.publisherLostSince = undefined;
      this.tellLosses();
    });
    this.subscriber.subscribe(this.channel(EVERY_TOPIC)).catch(() => undefined);
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    const message = JSON.stringify(payload);
    const attemptedAt = Date.now();
    if (!this.mayTryPublishing()) {
      this.rememberLoss(topic, attemptedAt);
      throw new Error('Redis is out of reach; the topic’s subscribers are told what they missed once it is back');
    }
    try {
      await this.publisher.publish(this.channel(topic), message);
    } catch (error) {
      this.publisherFailed(attemptedAt);
      this.rememberLoss(topic, attemptedAt);
      this.tellLater();
      throw error;
    }
    this.publisherLostSince = undefined;
    this.tellLosses();
  }

  subscribe<T>(topic: string): AsyncIterableIterator<T>;
  subscribe<T>(topic: string, options: SubscribeOptions & { reportMissed: true }): AsyncIterableIterator<T | MissedEvents>;
  subscribe<T>(topic: string, options: SubscribeOptions = {}): AsyncIterableIterator<T | MissedEvents> {
    return this.listeners.listen<T>(topic, options, {
      onFirst: (group) => {
        this.subscriber.subscribe(this.channel(topic)).catch((error: Error) => {
          // Refused by a Redis that answers: the subscription cannot work. Otherwise the connection is down, and
          // the topic is subscribed again, its listeners told what they missed, once it is back.
          if (this.subscriber.status === 'ready') group.end(error);
          else if (!this.closing) this.subscriberLostSince ??= Date.now();
        });
      },
      onLast: () => {
        if (this.closing) return;
        this.subscriber
          .unsubscribe(this.channel(topic))
          .catch((error: Error) => this.logger.debug({ err: error.message, topic }, 'unsubscribe failed'));
      },
    });
  }

  async subscribed(topic: string): Promise<void> {
    if (this.subscriberLostSince !== undefined) throw new Error('Redis is out of reach; the subscription is made again once it is back');
    await this.subscriber.subscribe(this.channel(topic));
  }

  async ping(): Promise<void> {
    await Promise.all([this.publisher.ping(), this.subscriber.ping()]);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.tellTimer);
    this.listeners.endAll();
    await Promise.allSettled([this.publisher.quit(), this.subscriber.quit()]);
  }

  /** Whether a publish may go to Redis: no failure is known, or the connection is up and the pause after a failure is over. */
  private mayTryPublishing(): boolean {
    return this.publisherLostSince === undefined || (this.publisher.status === 'ready' && Date.now() >= this.retryPublishAt);
  }

  private publisherFailed(at: number): void {
    this.publisherLostSince ??= at;
    this.retryPublishAt = Date.now() + this.retryPublishAfterMs;
  }

  private channel(topic: string): string {
    return this.prefix + topic;
  }

  private receive(channel: string, message: string): void {
    const topic = channel.slice(this.prefix.length);
    if (message.startsWith(MISSED_MARKER)) {
      const lostAt = Date.parse(message.slice(MISSED_MARKER.length));
      this.listeners.reportMissed(topic === EVERY_TOPIC ? undefined : topic, new MissedEvents(Number.isNaN(lostAt) ? Date.now() : lostAt));
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(message);
    } catch {
      this.logger.warn({ channel }, 'dropped a pub/sub message that is not JSON');
      return;
    }
    this.listeners.deliver(topic, payload);
  }

  /** Subscribes every topic again once the subscriber connection is back, then tells their listeners what they missed. */
  private async resubscribe(): Promise<void> {
    const lostSince = this.subscriberLostSince;
    if (lostSince === undefined || this.closing) return;
    const closes = this.subscriberCloses;
    try {
      await this.subscriber.subscribe(...[EVERY_TOPIC, ...this.listeners.topics()].map((topic) => this.channel(topic)));
    } catch (error) {
      this.logger.warn(
        { err: error instanceof Error ? error.message : error },
        'could not subscribe again once Redis was back; retrying on the next reconnection',
      );
      return;
    }
    // Dropped again meanwhile: the next reconnection subscribes and tells.
    if (closes !== this.subscriberCloses || this.closing) return;
    this.subscriberLostSince = undefined;
    this.logger.info(
      { downMs: Date.now() - lostSince, topics: this.listeners.topics().length },
      'redis subscriptions restored; subscribers resynchronise',
    );
    this.listeners.reportMissed(undefined, new MissedEvents(lostSince));
  }

  private rememberLoss(topic: string, at: number): void {
    const latest = ++this.losses;
    if (this.everyTopicLost) {
      this.everyTopicLost.latest = latest;
      return;
    }
    const loss = this.lostTopics.get(topic);
    if (loss) {
      loss.latest = latest;
      return;
    }
    if (this.lostTopics.size < this.maxLostTopics) {
      this.lostTopics.set(topic, { since: at, latest });
      return;
    }
    const since = Math.min(at, ...[...this.lostTopics.values()].map((lost) => lost.since));
    this.everyTopicLost = { since, latest };
    this.lostTopics.clear();
  }

  /**
   * Sends the markers of the losses remembered, one pass at a time, when the publisher may work; a loss during a pass
   * (or a pass that failed) is told later.
   */
  private tellLosses(): void {
    if (this.telling || this.closing || (this.lostTopics.size === 0 && !this.everyTopicLost)) return;
    if (!this.mayTryPublishing()) return this.tellLater();
    this.telling = this.sendMarkers()
      .catch((error: unknown) => {
        this.logger.debug({ err: error instanceof Error ? error.message : error }, 'could not tell subscribers what they missed yet');
        this.publisherFailed(Date.now());
      })
      .finally(() => {
        this.telling = undefined;
        if (this.lostTopics.size > 0 || this.everyTopicLost) this.tellLater();
      });
  }

  private tellLater(): void {
    if (this.tellTimer || this.closing) return;
    this.tellTimer = setTimeout(() => {
      this.tellTimer = undefined;
      this.tellLosses();
    }, this.retryPublishAfterMs);
    this.tellTimer.unref();
  }

  private async sendMarkers(): Promise<void> {
    const everyTopic = this.everyTopicLost;
    if (everyTopic) {
      const { latest } = everyTopic;
      await this.publisher.publish(this.channel(EVERY_TOPIC), MISSED_MARKER + new Date(everyTopic.since).toISOString());
      if (this.everyTopicLost?.latest === latest) this.everyTopicLost = undefined;
    }
    const told = this.lostTopics.size;
    for (const [topic, loss] of [...this.lostTopics]) {
      const { latest } = loss;
      await this.publisher.publish(this.channel(topic), MISSED_MARKER + new Date(loss.since).toISOString());
      if (this.lostTopics.get(topic)?.latest === latest) this.lostTopics.delete(topic);
    }
    this.publisherLostSince = undefined;
    this.logger.info({ topics: everyTopic ? 'every' : told }, 'told live subscribers of the events lost while Redis was out of reach');
  }
}
