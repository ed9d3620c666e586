import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MISSED_EVENTS_ALLOWANCE_MS, MissedEvents } from './pubsub-listeners.ts';
import { RedisPubSub, type RedisPubSubOptions } from './redis-pubsub.ts';
import { TcpProxy, recordingLogger, testEnvironment } from '../testing/index.ts';

const unique = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

async function next<T>(iterator: AsyncIterator<T>): Promise<T> {
  const result = await iterator.next();
  if (result.done) throw new Error('the subscription ended');
  return result.value;
}

describe.runIf(testEnvironment.redisUrl)('RedisPubSub through an outage of the real Redis', () => {
  const redisUrl = testEnvironment.redisUrl!;
  const prefix = `nexusflow-test:${randomBytes(6).toString('hex')}:`;
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function open(url: string, options: RedisPubSubOptions = {}): RedisPubSub {
    const pubsub = new RedisPubSub(url, recordingLogger().logger, { prefix, ...options });
    cleanups.push(() => pubsub.close());
    return pubsub;
  }

  async function proxyToRedis(): Promise<TcpProxy> {
    const proxy = await TcpProxy.start(redisUrl);
    cleanups.push(() => proxy.close());
    return proxy;
  }

  /** Publishes on a topic of its own until a publish fails: the publisher has seen that Redis is gone. */
  async function untilPublishingFails(pubsub: RedisPubSub): Promise<number> {
    const probe = unique('probe');
    await expect
      .poll(
        () =>
          pubsub.publish(probe, 'probe').then(
            () => 'accepted',
            () => 'refused',
          ),
        { timeout: 10_000, interval: 20 },
      )
      .toBe('refused');
    return Date.now();
  }

  it('tells a subscription that asked for it that it may have missed events, once its connection is back and the topic subscribed again', async () => {
    const proxy = await proxyToRedis();
    const receiving = open(proxy.urlFor(redisUrl));
    const sending = open(redisUrl);
    const topic = unique('task.updated');
    const reporting = receiving.subscribe<number>(topic, { reportMissed: true });
    const plain = receiving.subscribe<number>(topic);
    await receiving.subscribed(topic);
    await sending.publish(topic, 1);
    expect([await next(reporting), await next(plain)]).toEqual([1, 1]);

    const cutAt = Date.now();
    proxy.takeDown();
    await sending.publish(topic, 2);
    proxy.bringUp();

    const missed = await next(reporting);
    expect(missed).toBeInstanceOf(MissedEvents);
    expect((missed as MissedEvents).since.getTime()).toBeGreaterThanOrEqual(cutAt - MISSED_EVENTS_ALLOWANCE_MS);
    expect((missed as MissedEvents).since.getTime()).toBeLessThanOrEqual(Date.now() - MISSED_EVENTS_ALLOWANCE_MS);
    await sending.publish(topic, 3);
    expect(await next(reporting)).toBe(3);
    expect(await next(plain)).toBe(3);
  });

  it('subscribes a topic asked for while Redis was out of reach once it is back, and says events may have been missed', async () => {
    const proxy = await proxyToRedis();
    const receiving = open(proxy.urlFor(redisUrl));
    const sending = open(redisUrl);
    await receiving.ping();
    proxy.takeDown();
    const topic = unique('task.updated');
    const reporting = receiving.subscribe<number>(topic, { reportMissed: true });

    proxy.bringUp();

    expect(await next(reporting)).toBeInstanceOf(MissedEvents);
    await sending.publish(topic, 1);
    expect(await next(reporting)).toBe(1);
  });

  it('fails a publish at once while Redis is out of reach, and tells the topic’s subscribers in other processes once it is back', async () => {
    const proxy = await proxyToRedis();
    const sending = open(proxy.urlFor(redisUrl));
    const receiving = open(redisUrl);
    const topic = unique('task.updated');
    const reporting = receiving.subscribe<string>(topic, { reportMissed: true });
    await receiving.subscribed(topic);
    await sending.publish(topic, 'before');
    expect(await next(reporting)).toBe('before');

    proxy.takeDown();
    await untilPublishingFails(sending);
    const started = performance.now();
    await expect(sending.publish(topic, 'lost')).rejects.toThrow(/out of reach/);
    expect(performance.now() - started).toBeLessThan(250);
    // The event was lost by the time its publish was refused: the report must reach back at least that far.
    const lostAt = Date.now();
    proxy.bringUp();

    const missed = await next(reporting);
    expect(missed).toBeInstanceOf(MissedEvents);
    expect((missed as MissedEvents).since.getTime()).toBeLessThanOrEqual(lostAt - MISSED_EVENTS_ALLOWANCE_MS);
    await expect
      .poll(
        () =>
          sending.publish(topic, 'after').then(
            () => 'accepted',
            () => 'refused',
          ),
        { timeout: 10_000, interval: 50 },
      )
      .toBe('accepted');
    expect(await next(reporting)).toBe('after');
  });

  it('tells the subscribers of every topic once a publisher lost more topics than it keeps track of', async () => {
    const proxy = await proxyToRedis();
    const sending = open(proxy.urlFor(redisUrl), { maxLostTopics: 1 });
    const receiving = open(redisUrl);
    const untouched = unique('project.updated');
    const reporting = receiving.subscribe<string>(untouched, { reportMissed: true });
    await receiving.subscribed(untouched);

    proxy.takeDown();
    await untilPublishingFails(sending);
    await expect(sending.publish(unique('task.updated'), 'lost')).rejects.toThrow();
    proxy.bringUp();

    expect(await next(reporting)).toBeInstanceOf(MissedEvents);
  });
});

describe.runIf(testEnvironment.redisUrl)('RedisPubSub prefixes', () => {
  it('keep deployments that share a Redis apart: each sees only its own events on a topic of the same name', async () => {
    const { logger } = recordingLogger();
    const run = randomBytes(6).toString('hex');
    const staging = new RedisPubSub(testEnvironment.redisUrl!, logger, { prefix: `staging-${run}:` });
    const production = new RedisPubSub(testEnvironment.redisUrl!, logger, { prefix: `production-${run}:` });
    try {
      const topic = 'workflows:execution:same-id';
      const stagingEvents = staging.subscribe<string>(topic);
      const productionEvents = production.subscribe<string>(topic);
      await Promise.all([staging.subscribed(topic), production.subscribed(topic)]);

      await staging.publish(topic, 'staging');
      await production.publish(topic, 'production');

      expect(await next(productionEvents)).toBe('production');
      expect(await next(stagingEvents)).toBe('staging');
    } finally {
      await Promise.all([staging.close(), production.close()]);
    }
  });
});
