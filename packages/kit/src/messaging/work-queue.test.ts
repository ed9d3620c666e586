import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it, expect } from 'vitest';
import { connect, type ChannelModel } from 'amqplib';
import { createWorkQueue, InMemoryWorkQueue, RabbitWorkQueue, type WorkQueue, type WorkQueueDelivery } from './work-queue.ts';
import { createDeferred, TcpProxy, recordingLogger, testEnvironment } from '../testing/index.ts';

const unique = (label: string) => `nexusflow-test.${label}.${randomBytes(6).toString('hex')}`;

/** Records deliveries and lets a test wait until a number of them have arrived. */
function recorder<T>() {
  const deliveries: { message: T; redelivered: boolean }[] = [];
  const waiting: { count: number; resolve(): void }[] = [];
  return {
    deliveries,
    messages: () => deliveries.map((delivery) => delivery.message),
    record(message: T, delivery: WorkQueueDelivery) {
      deliveries.push({ message, redelivered: delivery.redelivered });
      for (const waiter of waiting.filter((each) => deliveries.length >= each.count)) waiter.resolve();
    },
    received(count: number): Promise<void> {
      const deferred = createDeferred();
      if (deliveries.length >= count) deferred.resolve();
      else waiting.push({ count, resolve: () => deferred.resolve() });
      return deferred.promise;
    },
  };
}

/** Lets every pending callback run, so that whatever was going to happen without waiting has happened. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What every implementation promises; `open` gives a new handle on one queue per test. */
function behavesAsAWorkQueue(open: () => Promise<WorkQueue<string>>) {
  it('delivers messages in the order they were enqueued', async () => {
    const queue = await open();
    for (const message of ['first', 'second', 'third', 'fourth']) await queue.enqueue(message);
    const seen = recorder<string>();

    await queue.consume(async (message, delivery) => seen.record(message, delivery), { concurrency: 1 });
    await seen.received(4);

    expect(seen.deliveries).toEqual([
      { message: 'first', redelivered: false },
      { message: 'second', redelivered: false },
      { message: 'third', redelivered: false },
      { message: 'fourth', redelivered: false },
    ]);
  });

  it('hands a message whose handler rejected out again, marked as redelivered', async () => {
    const queue = await open();
    const seen = recorder<string>();
    await queue.consume(async (message, delivery) => {
      seen.record(message, delivery);
      if (!delivery.redelivered) throw new Error('the first attempt fails');
    });

    await queue.enqueue('flaky');
    await seen.received(2);

    expect(seen.deliveries).toEqual([
      { message: 'flaky', redelivered: false },
      { message: 'flaky', redelivered: true },
    ]);
  });

  it('splits messages between competing consumers, handing each message to one of them', async () => {
    const queue = await open();
    const handledBy: Record<string, string[]> = { one: [], two: [] };
    // Each consumer takes one message at a time, so two in flight at once means both are working.
    let inFlight = 0;
    const bothBusy = createDeferred();
    const allHandled = recorder<string>();
    const consumer = (name: string) => async (message: string, delivery: WorkQueueDelivery) => {
      inFlight += 1;
      if (inFlight === 2) bothBusy.resolve();
      await bothBusy.promise;
      handledBy[name]!.push(message);
      inFlight -= 1;
      allHandled.record(message, delivery);
    };
    await queue.consume(consumer('one'), { concurrency: 1 });
    await queue.consume(consumer('two'), { concurrency: 1 });

    for (const message of ['a', 'b', 'c', 'd', 'e', 'f']) await queue.enqueue(message);
    await allHandled.received(6);

    expect(allHandled.messages().sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(allHandled.deliveries.every((delivery) => !delivery.redelivered)).toBe(true);
    expect(handledBy.one!.length).toBeGreaterThan(0);
    expect(handledBy.two!.length).toBeGreaterThan(0);
  });

  it('runs up to `concurrency` handlers at once', async () => {
    const queue = await open();
    const release = createDeferred();
    const started = recorder<string>();
    await queue.consume(
      async (message, delivery) => {
        started.record(message, delivery);
        await release.promise;
      },
      { concurrency: 3 },
    );

    for (const message of ['a', 'b', 'c', 'd']) await queue.enqueue(message);
    await started.received(3);
    await queue.ping();
    await nextTurn();

    expect(started.messages()).toEqual(['a', 'b', 'c']);
    release.resolve();
    await started.received(4);
  });

  it('waits in stop() for the handler in flight, whose message is then acknowledged and not handed out again', async () => {
    const queue = await open();
    const started = createDeferred();
    const release = createDeferred();
    const finished: string[] = [];
    const slow = await queue.consume(async (message) => {
      started.resolve();
      await release.promise;
      finished.push(message);
    });
    await queue.enqueue('slow');
    await started.promise;

    let stopped = false;
    const stopping = slow.stop().then(() => {
      stopped = true;
    });
    await queue.ping();
    await nextTurn();
    expect(stopped).toBe(false);

    release.resolve();
    await stopping;
    expect(finished).toEqual(['slow']);

    const next = recorder<string>();
    await queue.consume(async (message, delivery) => next.record(message, delivery));
    await queue.enqueue('marker');
    await next.received(1);
    expect(next.deliveries).toEqual([{ message: 'marker', redelivered: false }]);
  });

  it('delivers a message enqueued with a delay after one enqueued without, and delivers it', async () => {
    const queue = await open();
    const seen = recorder<string>();
    await queue.consume(async (message, delivery) => seen.record(message, delivery));

    await queue.enqueue('later', { delayMs: 200 });
    await queue.enqueue('now');
    await seen.received(2);

    expect(seen.deliveries).toEqual([
      { message: 'now', redelivered: false },
      { message: 'later', redelivered: false },
    ]);
  });

  it('sends messages as JSON, so that handlers receive plain data', async () => {
    const queue = (await open()) as unknown as WorkQueue<unknown>;
    const seen = recorder<unknown>();
    await queue.consume(async (message, delivery) => seen.record(message, delivery));

    await queue.enqueue({ at: new Date('2030-01-01T00:00:00.000Z'), missing: undefined, list: [1, 'two'] });
    await seen.received(1);

    expect(seen.messages()).toEqual([{ at: '2030-01-01T00:00:00.000Z', list: [1, 'two'] }]);
  });

  it('refuses a concurrency that is not a positive integer', async () => {
    const queue = await open();

    await expect(queue.consume(async () => undefined, { concurrency: 0 })).rejects.toBeInstanceOf(RangeError);
  });

  it('answers ping', async () => {
    const queue = await open();

    await expect(queue.ping()).resolves.toBeUndefined();
  });
}

describe('InMemoryWorkQueue', () => {
  const opened: WorkQueue<unknown>[] = [];
  let queue: InMemoryWorkQueue<string> | undefined;

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((each) => each.close()));
    queue = undefined;
  });

  behavesAsAWorkQueue(async () => {
    if (!queue) {
      queue = new InMemoryWorkQueue<string>(unique('memory'), recordingLogger().logger);
      opened.push(queue);
    }
    return queue;
  });

  it('logs a handler failure as a warning', async () => {
    const { logger, warnings } = recordingLogger();
    const queue = new InMemoryWorkQueue<string>('jobs', logger);
    opened.push(queue);
    const seen = recorder<string>();
    await queue.consume(async (message, delivery) => {
      seen.record(message, delivery);
      if (!delivery.redelivered) throw new Error('boom');
    });

    await queue.enqueue('job');
    await seen.received(2);

    expect(warnings).toEqual([{ fields: { err: 'boom', queue: 'jobs' }, message: 'message handler failed; requeued the message' }]);
  });

  it('drops delayed messages that are still waiting on close()', async () => {
    const queue = new InMemoryWorkQueue<string>('jobs', recordingLogger().logger);
    const seen = recorder<string>();
    await queue.consume(async (message, delivery) => seen.record(message, delivery));
    await queue.enqueue('never', { delayMs: 60_000 });

    await queue.close();

    expect(seen.deliveries).toEqual([]);
    await expect(queue.enqueue('after close')).rejects.toThrow('the work queue is closed');
  });

  it('is what createWorkQueue returns when no RabbitMQ URL is configured', async () => {
    const queue = createWorkQueue<string>(undefined, 'jobs', recordingLogger().logger);
    opened.push(queue);

    expect(queue).toBeInstanceOf(InMemoryWorkQueue);
  });
});

describe.runIf(testEnvironment.amqpUrl)('RabbitWorkQueue on the real RabbitMQ', () => {
  const amqpUrl = testEnvironment.amqpUrl!;
  let admin: ChannelModel;
  const queueNames: string[] = [];
  const opened: WorkQueue<unknown>[] = [];
  let name = '';

  function open(options: { enqueueTimeoutMs?: number } = {}) {
    const { logger, warnings } = recordingLogger();
    const queue = new RabbitWorkQueue<string>(amqpUrl, name, logger, options);
    opened.push(queue);
    return { queue, warnings };
  }

  async function queueStats(queue: string) {
    const channel = await admin.createChannel();
    try {
      return await channel.checkQueue(queue);
    } finally {
      await channel.close();
    }
  }

  beforeAll(async () => {
    admin = await connect(amqpUrl);
  });

  beforeEach(() => {
    name = unique('jobs');
    queueNames.push(name, `${name}.delay.200`, `${name}.delay.1000`);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((each) => each.close()));
  });

  afterAll(async () => {
    const channel = await admin.createChannel();
    for (const queue of queueNames) await channel.deleteQueue(queue);
    await admin.close();
  });

  behavesAsAWorkQueue(async () => open().queue);

  it('stores messages persistently, as JSON, in a durable queue of the given name', async () => {
    const { queue } = open();

    await queue.enqueue('durable');

    const channel = await admin.createChannel();
    const message = await channel.get(name, { noAck: true });
    await channel.close();
    expect(message).not.toBe(false);
    if (message === false) return;
    expect(message.properties.deliveryMode).toBe(2);
    expect(message.properties.contentType).toBe('application/json');
    expect(JSON.parse(message.content.toString())).toBe('durable');
  });

  it('keeps a delayed message in a queue of its delay, which hands it to the work queue when the delay is over', async () => {
    const { queue } = open();
    const seen = recorder<string>();
    await queue.enqueue('later', { delayMs: 1000 });

    expect(await queueStats(`${name}.delay.1000`)).toMatchObject({ messageCount: 1 });
    await queue.consume(async (message, delivery) => seen.record(message, delivery));
    await seen.received(1);

    expect(seen.deliveries).toEqual([{ message: 'later', redelivered: false }]);
  });

  it('hands a message its dying consumer did not acknowledge to another consumer', async () => {
    const { queue: dying } = open();
    const { queue: surviving } = open();
    const taken = createDeferred();
    const never = createDeferred();
    await dying.consume(async () => {
      taken.resolve();
      await never.promise;
    });
    await dying.enqueue('job');
    await taken.promise;
    const seen = recorder<string>();
    await surviving.consume(async (message, delivery) => seen.record(message, delivery));

    dying.severConnectionForTesting({ reconnect: false });
    await seen.received(1);

    expect(seen.deliveries).toEqual([{ message: 'job', redelivered: true }]);
    never.resolve();
  });

  it('resumes consuming after its connection dropped, getting back the message it had not acknowledged', async () => {
    const { queue, warnings } = open();
    const seen = recorder<string>();
    const interrupted = createDeferred();
    await queue.consume(async (message, delivery) => {
      seen.record(message, delivery);
      if (!delivery.redelivered) await interrupted.promise;
    });
    await queue.enqueue('job');
    await seen.received(1);

    queue.severConnectionForTesting({ reconnect: true });
    await seen.received(2);
    // The handler of the lost delivery finishes late; its acknowledgement goes nowhere, harmlessly.
    interrupted.resolve();
    await queue.enqueue('after reconnecting');
    await seen.received(3);

    expect(seen.deliveries).toEqual([
      { message: 'job', redelivered: false },
      { message: 'job', redelivered: true },
      { message: 'after reconnecting', redelivered: false },
    ]);
    expect(warnings.map((warning) => warning.message)).toContain('lost the RabbitMQ connection; reconnecting');
    expect(await queueStats(name)).toMatchObject({ messageCount: 0 });
  });

  it('holds an enqueue made while reconnecting until the new connection takes it', async () => {
    const { queue } = open();
    await queue.ping();

    queue.severConnectionForTesting({ reconnect: true });
    await queue.enqueue('during the outage');

    expect(await queueStats(name)).toMatchObject({ messageCount: 1 });
  });

  it('rejects an enqueue with a clear error when the broker stays unreachable', async () => {
    const { logger } = recordingLogger();
    const queue = new RabbitWorkQueue<string>('amqp://guest:guest@127.0.0.1:1', name, logger, { enqueueTimeoutMs: 200 });
    opened.push(queue);

    await expect(queue.enqueue('lost')).rejects.toThrow(`cannot publish to "${name}": RabbitMQ did not answer within 200 ms`);
    await expect(queue.ping()).rejects.toThrow('RabbitMQ did not answer within 200 ms');
  });

  it('refuses at once, when asked not to wait, an enqueue while the broker is unreachable, and says when it is back', async () => {
    const proxy = await TcpProxy.start(amqpUrl);
    const queue = new RabbitWorkQueue<string>(proxy.urlFor(amqpUrl), name, recordingLogger().logger, { maxReconnectDelayMs: 200 });
    opened.push(queue);
    try {
      await queue.ping();
      const reconnected = createDeferred();
      queue.onReconnected(() => reconnected.resolve());

      proxy.takeDown();
      const refusedAfter = performance.now();
      const refusal = await queue.enqueue('during the outage', { waitForReconnection: false }).catch((error: unknown) => error);
      const waitedMs = performance.now() - refusedAfter;

      expect(refusal).toMatchObject({
        name: 'DependencyUnavailableError',
        message: `cannot publish to "${name}": RabbitMQ is unreachable`,
      });
      expect(waitedMs, 'the enqueue waited for the broker instead of refusing at once').toBeLessThan(1000);
      proxy.bringUp();
      await reconnected.promise;
      await queue.enqueue('after the outage', { waitForReconnection: false });
      expect(await queueStats(name)).toMatchObject({ messageCount: 1 });
    } finally {
      await queue.close();
      await proxy.close();
    }
  });

  it('never says it is back when it was never away', async () => {
    const { queue } = open();
    let reconnections = 0;
    queue.onReconnected(() => (reconnections += 1));
    await queue.ping();
    await queue.enqueue('job', { waitForReconnection: false });

    expect(reconnections).toBe(0);
  });

  it('drops a message that is not JSON with a warning, and keeps consuming', async () => {
    const { queue, warnings } = open();
    const seen = recorder<string>();
    await queue.consume(async (message, delivery) => seen.record(message, delivery));

    const channel = await admin.createChannel();
    channel.sendToQueue(name, Buffer.from('{not json'), { messageId: 'garbage' });
    await channel.close();
    await queue.enqueue('valid');
    await seen.received(1);

    expect(seen.messages()).toEqual(['valid']);
    expect(warnings).toContainEqual({ fields: { queue: name, messageId: 'garbage' }, message: 'dropped a message that is not JSON' });
    expect(await queueStats(name)).toMatchObject({ messageCount: 0 });
  });

  it('no longer answers ping once closed', async () => {
    const { queue } = open();
    await queue.ping();

    await queue.close();

    await expect(queue.ping()).rejects.toThrow('the RabbitMQ connection is closed');
  });

  it('is what createWorkQueue returns when a RabbitMQ URL is configured', async () => {
    const queue = createWorkQueue<string>(amqpUrl, name, recordingLogger().logger);
    opened.push(queue);

    expect(queue).toBeInstanceOf(RabbitWorkQueue);
    await expect(queue.ping()).resolves.toBeUndefined();
  });
});
