import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, it, expect } from 'vitest';
import { Redis } from 'ioredis';
import { QueueOverflowError } from './async-queue.ts';
import { createPubSub, InMemoryPubSub, RedisPubSub, type PubSub } from './pubsub.ts';
import { recordingLogger, testEnvironment } from '../testing/index.ts';

const unique = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

describe('InMemoryPubSub', () => {
  const opened: PubSub[] = [];
  const open = () => {
    const pubsub = new InMemoryPubSub();
    opened.push(pubsub);
    return pubsub;
  };

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((pubsub) => pubsub.close()));
  });

  it('delivers each event to every subscriber of the topic, in publish order', async () => {
    const pubsub = open();
    const first = pubsub.subscribe<number>('task.updated');
    const second = pubsub.subscribe<number>('task.updated');

    await pubsub.publish('task.updated', 1);
    await pubsub.publish('task.updated', 2);

    expect(await first.next()).toEqual({ value: 1, done: false });
    expect(await first.next()).toEqual({ value: 2, done: false });
    expect(await second.next()).toEqual({ value: 1, done: false });
    expect(await second.next()).toEqual({ value: 2, done: false });
  });

  it('does not deliver events of other topics', async () => {
    const pubsub = open();
    const tasks = pubsub.subscribe<string>('task.updated');

    await pubsub.publish('project.updated', 'project');
    await pubsub.publish('task.updated', 'task');

    expect(await tasks.next()).toEqual({ value: 'task', done: false });
  });

  it('does not replay events published before the subscription', async () => {
    const pubsub = open();
    await pubsub.publish('task.updated', 'early');
    const tasks = pubsub.subscribe<string>('task.updated');

    await pubsub.publish('task.updated', 'late');

    expect(await tasks.next()).toEqual({ value: 'late', done: false });
  });

  it('hands subscribers a copy, so that the publisher changing its object afterwards changes nothing', async () => {
    const pubsub = open();
    const tasks = pubsub.subscribe<{ title: string; tags: string[] }>('task.updated');
    const payload = { title: 'Write tests', tags: ['kit'] };

    await pubsub.publish('task.updated', payload);
    payload.title = 'changed';
    payload.tags.push('changed');

    const { value } = await tasks.next();
    expect(value).toEqual({ title: 'Write tests', tags: ['kit'] });
    expect(value).not.toBe(payload);
  });

  it('stops delivering to a subscriber that called return(), and keeps delivering to the others', async () => {
    const pubsub = open();
    const leaving = pubsub.subscribe<number>('task.updated');
    const staying = pubsub.subscribe<number>('task.updated');

    expect(await leaving.return!()).toEqual({ value: undefined, done: true });
    await pubsub.publish('task.updated', 1);

    expect(await leaving.next()).toEqual({ value: undefined, done: true });
    expect(await staying.next()).toEqual({ value: 1, done: false });
  });

  it('delivers to a new subscriber of a topic whose only subscriber left', async () => {
    const pubsub = open();
    await pubsub.subscribe('task.updated').return!();
    const again = pubsub.subscribe<number>('task.updated');

    await pubsub.publish('task.updated', 2);

    expect(await again.next()).toEqual({ value: 2, done: false });
  });

  it('ends every open iterator on close(), after the events they already hold', async () => {
    const pubsub = open();
    const waiting = pubsub.subscribe<number>('project.updated');
    const pending = waiting.next();
    const holding = pubsub.subscribe<number>('task.updated');
    await pubsub.publish('task.updated', 1);

    await pubsub.close();

    expect(await pending).toEqual({ value: undefined, done: true });
    expect(await holding.next()).toEqual({ value: 1, done: false });
    expect(await holding.next()).toEqual({ value: undefined, done: true });
  });

  it('fails a subscriber that falls more than 1000 events behind', async () => {
    const pubsub = open();
    const slow = pubsub.subscribe<number>('task.updated');

    for (let index = 0; index < 1001; index += 1) await pubsub.publish('task.updated', index);

    for (let index = 0; index < 1000; index += 1) expect(await slow.next()).toEqual({ value: index, done: false });
    await expect(slow.next()).rejects.toBeInstanceOf(QueueOverflowError);
  });

  it('always answers ping', async () => {
    await expect(open().ping()).resolves.toBeUndefined();
  });

  it('confirms a subscription at once, and never reports missed events, as it loses none', async () => {
    const pubsub = open();
    const reporting = pubsub.subscribe<number>('task.updated', { reportMissed: true });
    await expect(pubsub.subscribed('task.updated')).resolves.toBeUndefined();

    await pubsub.publish('task.updated', 1);
    await pubsub.close();

    expect(await reporting.next()).toEqual({ value: 1, done: false });
    expect(await reporting.next()).toEqual({ value: undefined, done: true });
  });
});

describe('createPubSub', () => {
  it('keeps events in-process when no Redis URL is configured', async () => {
    const { logger } = recordingLogger();
    const pubsub = createPubSub(undefined, logger);

    expect(pubsub).toBeInstanceOf(InMemoryPubSub);
    await pubsub.close();
  });
});

describe.runIf(testEnvironment.redisUrl)('RedisPubSub on the real Redis', () => {
  const redisUrl = testEnvironment.redisUrl!;
  const prefix = `nexusflow-test:${randomBytes(6).toString('hex')}:`;
  let admin: Redis;
  const opened: PubSub[] = [];

  function open() {
    const { logger, warnings } = recordingLogger();
    const pubsub = new RedisPubSub(redisUrl, logger, { prefix });
    opened.push(pubsub);
    return { pubsub, warnings };
  }

  async function subscriberCount(topic: string): Promise<number> {
    const [, count] = (await admin.pubsub('NUMSUB', prefix + topic)) as [string, number];
    return count;
  }

  beforeAll(() => {
    admin = new Redis(redisUrl);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((pubsub) => pubsub.close()));
  });

  afterAll(async () => {
    await admin.quit();
  });

  it('delivers an event published by one instance to a subscriber of another', async () => {
    const { pubsub: receiving } = open();
    const { pubsub: sending } = open();
    const topic = unique('task.updated');
    const events = receiving.subscribe<{ id: string; done: boolean }>(topic);
    await receiving.subscribed(topic);

    await sending.publish(topic, { id: 'task-1', done: true });

    expect(await events.next()).toEqual({ value: { id: 'task-1', done: true }, done: false });
  });

  it('delivers events in publish order to every local subscriber of the topic, and to no other topic', async () => {
    const { pubsub: receiving } = open();
    const { pubsub: sending } = open();
    const topic = unique('task.updated');
    const otherTopic = unique('project.updated');
    const first = receiving.subscribe<number>(topic);
    const second = receiving.subscribe<number>(topic);
    const other = receiving.subscribe<string>(otherTopic);
    await receiving.subscribed(topic);
    await receiving.subscribed(otherTopic);

    await sending.publish(topic, 1);
    await sending.publish(topic, 2);
    await sending.publish(otherTopic, 'other');

    expect([await first.next(), await first.next()]).toEqual([
      { value: 1, done: false },
      { value: 2, done: false },
    ]);
    expect([await second.next(), await second.next()]).toEqual([
      { value: 1, done: false },
      { value: 2, done: false },
    ]);
    expect(await other.next()).toEqual({ value: 'other', done: false });
  });

  it('sends payloads as JSON, so that subscribers receive plain data', async () => {
    const { pubsub: receiving } = open();
    const { pubsub: sending } = open();
    const topic = unique('task.updated');
    const events = receiving.subscribe<unknown>(topic);
    await receiving.subscribed(topic);

    await sending.publish(topic, { at: new Date('2030-01-01T00:00:00.000Z'), missing: undefined, list: [1, 'two'] });

    expect(await events.next()).toEqual({ value: { at: '2030-01-01T00:00:00.000Z', list: [1, 'two'] }, done: false });
  });

  it('stops delivering to a subscriber that called return(), and keeps delivering to the others', async () => {
    const { pubsub: receiving } = open();
    const { pubsub: sending } = open();
    const topic = unique('task.updated');
    const leaving = receiving.subscribe<number>(topic);
    const staying = receiving.subscribe<number>(topic);
    await receiving.subscribed(topic);

    await leaving.return!();
    await sending.publish(topic, 1);

    expect(await staying.next()).toEqual({ value: 1, done: false });
    expect(await leaving.next()).toEqual({ value: undefined, done: true });
  });

  it('unsubscribes from Redis when the last subscriber of a topic leaves', async () => {
    const { pubsub: receiving } = open();
    const topic = unique('task.updated');
    const events = receiving.subscribe<number>(topic);
    await receiving.subscribed(topic);
    expect(await subscriberCount(topic)).toBe(1);

    await events.return!();
    // The subscriber connection answers in order, so its pong comes after the unsubscription.
    await receiving.ping();

    expect(await subscriberCount(topic)).toBe(0);
    expect(await admin.publish(prefix + topic, '1')).toBe(0);
  });

  it('delivers again to a new subscriber of a topic whose only subscriber left', async () => {
    const { pubsub: receiving } = open();
    const { pubsub: sending } = open();
    const topic = unique('task.updated');
    await receiving.subscribed(topic);
    await receiving.subscribe(topic).return!();

    const again = receiving.subscribe<string>(topic);
    await receiving.subscribed(topic);
    await sending.publish(topic, 'again');

    expect(await again.next()).toEqual({ value: 'again', done: false });
  });

  it('drops a message that is not JSON with a warning, and keeps delivering', async () => {
    const { pubsub: receiving, warnings } = open();
    const { pubsub: sending } = open();
    const topic = unique('task.updated');
    const events = receiving.subscribe<{ ok: boolean }>(topic);
    await receiving.subscribed(topic);

    await admin.publish(prefix + topic, '{not json');
    await sending.publish(topic, { ok: true });

    expect(await events.next()).toEqual({ value: { ok: true }, done: false });
    expect(warnings).toEqual([{ fields: { channel: prefix + topic }, message: 'dropped a pub/sub message that is not JSON' }]);
  });

  it('ends open iterators on close(), and no longer answers ping afterwards', async () => {
    const { pubsub } = open();
    const topic = unique('task.updated');
    const waiting = pubsub.subscribe<number>(topic);
    const idle = pubsub.subscribe<number>(unique('project.updated'));
    const pending = waiting.next();
    await pubsub.subscribed(topic);

    await pubsub.close();

    expect(await pending).toEqual({ value: undefined, done: true });
    expect(await idle.next()).toEqual({ value: undefined, done: true });
    await expect(pubsub.ping()).rejects.toThrow();
  });

  it('answers ping on both of its connections', async () => {
    const { pubsub } = open();
    await pubsub.subscribed(unique('task.updated'));

    await expect(pubsub.ping()).resolves.toBeUndefined();
  });

  it('is what createPubSub returns when a Redis URL is configured', async () => {
    const { logger } = recordingLogger();
    const pubsub = createPubSub(redisUrl, logger);
    opened.push(pubsub);

    expect(pubsub).toBeInstanceOf(RedisPubSub);
    await expect(pubsub.ping()).resolves.toBeUndefined();
  });
});
