import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, it, expect } from 'vitest';
import { connect, type ChannelModel } from 'amqplib';
import {
  createEventBus,
  EVENTS_EXCHANGE,
  InMemoryEventBus,
  RabbitEventBus,
  topicMatches,
  type DomainEvent,
  type EventBus,
} from './event-bus.ts';
import { createDeferred, recordingLogger, testEnvironment } from '../testing/index.ts';

const unique = (label: string) => `nexusflow-test.${label}.${randomBytes(6).toString('hex')}`;

/** Every queue the tests subscribe, so that the RabbitMQ suite can delete them afterwards. */
const queueNames: string[] = [];
function uniqueQueue(label: string): string {
  const name = unique(label);
  queueNames.push(name);
  return name;
}

function event(type: string, payload: Record<string, unknown> = {}): DomainEvent {
  return { id: randomUUID(), type, occurredAt: new Date().toISOString(), tenantId: 'tenant-1', payload };
}

/** Records the events a subscriber handled and lets a test wait until a number of them have arrived. */
function recorder() {
  const deliveries: { event: DomainEvent; redelivered: boolean }[] = [];
  const waiting: { count: number; resolve(): void }[] = [];
  return {
    deliveries,
    types: () => deliveries.map((delivery) => delivery.event.type),
    record: async (event: DomainEvent, delivery: { redelivered: boolean }) => {
      deliveries.push({ event, redelivered: delivery.redelivered });
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

describe('topicMatches', () => {
  it('matches a pattern without wildcards to exactly that routing key', () => {
    expect(topicMatches('workflow.execution.failed', 'workflow.execution.failed')).toBe(true);
    expect(topicMatches('workflow.execution.failed', 'workflow.execution.succeeded')).toBe(false);
    expect(topicMatches('workflow.execution', 'workflow.execution.failed')).toBe(false);
  });

  it('matches * to exactly one word', () => {
    expect(topicMatches('workflow.execution.*', 'workflow.execution.failed')).toBe(true);
    expect(topicMatches('workflow.*.failed', 'workflow.execution.failed')).toBe(true);
    expect(topicMatches('workflow.execution.*', 'workflow.execution')).toBe(false);
    expect(topicMatches('workflow.execution.*', 'workflow.execution.step.failed')).toBe(false);
  });

  it('matches # to zero or more words', () => {
    expect(topicMatches('workflow.#', 'workflow')).toBe(true);
    expect(topicMatches('workflow.#', 'workflow.created')).toBe(true);
    expect(topicMatches('workflow.#', 'workflow.execution.step.failed')).toBe(true);
    expect(topicMatches('workflow.#', 'project.created')).toBe(false);
    expect(topicMatches('#.failed', 'workflow.execution.failed')).toBe(true);
    expect(topicMatches('workflow.#.failed', 'workflow.failed')).toBe(true);
    expect(topicMatches('workflow.#.failed', 'workflow.execution.step.failed')).toBe(true);
    expect(topicMatches('workflow.#.failed', 'workflow.execution.succeeded')).toBe(false);
  });

  it('matches # alone to every routing key, the empty one included', () => {
    expect(topicMatches('#', 'workflow.execution.failed')).toBe(true);
    expect(topicMatches('#', '')).toBe(true);
    expect(topicMatches('*', '')).toBe(false);
    expect(topicMatches('#.#', 'workflow')).toBe(true);
  });

  it('compares whole words, not prefixes', () => {
    expect(topicMatches('work.#', 'workflow.created')).toBe(false);
    expect(topicMatches('workflow.*', 'workflows.created')).toBe(false);
  });
});

/** What every implementation promises; `open` gives a new handle on one bus per test. */
function behavesAsAnEventBus(open: () => Promise<EventBus>) {
  it('delivers to a subscriber the events whose type matches one of its patterns, and no others', async () => {
    const bus = await open();
    const everythingOfWorkflows = recorder();
    const executionOutcomes = recorder();
    await bus.subscribe({ queue: uniqueQueue('all-workflow-events'), bindings: ['workflow.#'] }, everythingOfWorkflows.record);
    await bus.subscribe({ queue: uniqueQueue('execution-outcomes'), bindings: ['workflow.execution.*'] }, executionOutcomes.record);

    for (const type of [
      'workflow.created',
      'workflow.execution.failed',
      'workflow.execution.step.failed',
      'project.created',
      'workflow.execution.succeeded',
    ]) {
      await bus.publish(event(type));
    }
    await everythingOfWorkflows.received(4);
    await executionOutcomes.received(2);

    expect(everythingOfWorkflows.types()).toEqual([
      'workflow.created',
      'workflow.execution.failed',
      'workflow.execution.step.failed',
      'workflow.execution.succeeded',
    ]);
    expect(executionOutcomes.types()).toEqual(['workflow.execution.failed', 'workflow.execution.succeeded']);
  });

  it('delivers an event unchanged', async () => {
    const bus = await open();
    const seen = recorder();
    await bus.subscribe({ queue: uniqueQueue('audit'), bindings: ['workflow.#'] }, seen.record);
    const failed = event('workflow.execution.failed', { executionId: 'execution-1', attempts: 3, reason: { code: 'TIMEOUT' } });

    await bus.publish(failed);
    await seen.received(1);

    expect(seen.deliveries).toEqual([{ event: failed, redelivered: false }]);
  });

  it('gives each queue a copy of an event', async () => {
    const bus = await open();
    const notifications = recorder();
    const audit = recorder();
    await bus.subscribe({ queue: uniqueQueue('notifications'), bindings: ['workflow.execution.failed'] }, notifications.record);
    await bus.subscribe({ queue: uniqueQueue('audit'), bindings: ['workflow.#'] }, audit.record);
    const failed = event('workflow.execution.failed');

    await bus.publish(failed);
    await notifications.received(1);
    await audit.received(1);

    expect(notifications.deliveries.map((delivery) => delivery.event.id)).toEqual([failed.id]);
    expect(audit.deliveries.map((delivery) => delivery.event.id)).toEqual([failed.id]);
  });

  it('hands each event to one of the subscribers that share a queue', async () => {
    const bus = await open();
    const queue = uniqueQueue('notifications');
    const handled = recorder();
    const handledBy: Record<string, number> = { one: 0, two: 0 };
    // With one event at a time each, two events in flight at once means both subscribers are working.
    let inFlight = 0;
    const bothBusy = createDeferred();
    const subscriber = (name: string) => async (received: DomainEvent, delivery: { redelivered: boolean }) => {
      inFlight += 1;
      if (inFlight === 2) bothBusy.resolve();
      await bothBusy.promise;
      handledBy[name]! += 1;
      inFlight -= 1;
      await handled.record(received, delivery);
    };
    await bus.subscribe({ queue, bindings: ['workflow.#'], concurrency: 1 }, subscriber('one'));
    await bus.subscribe({ queue, bindings: ['workflow.#'], concurrency: 1 }, subscriber('two'));
    const published = Array.from({ length: 6 }, () => event('workflow.execution.failed'));

    for (const each of published) await bus.publish(each);
    await handled.received(6);

    expect(handled.deliveries.map((delivery) => delivery.event.id).sort()).toEqual(published.map((each) => each.id).sort());
    expect(handledBy.one).toBeGreaterThan(0);
    expect(handledBy.two).toBeGreaterThan(0);
  });

  it('hands an event whose handler rejected out again, marked as redelivered', async () => {
    const bus = await open();
    const seen = recorder();
    await bus.subscribe({ queue: uniqueQueue('flaky'), bindings: ['workflow.#'] }, async (received, delivery) => {
      await seen.record(received, delivery);
      if (!delivery.redelivered) throw new Error('the first attempt fails');
    });
    const failed = event('workflow.execution.failed');

    await bus.publish(failed);
    await seen.received(2);

    expect(seen.deliveries).toEqual([
      { event: failed, redelivered: false },
      { event: failed, redelivered: true },
    ]);
  });

  it('keeps the events of a queue whose subscriber stopped, for the next subscriber', async () => {
    const bus = await open();
    const queue = uniqueQueue('notifications');
    const first = await bus.subscribe({ queue, bindings: ['workflow.#'] }, async () => undefined);
    await first.stop();
    const failed = event('workflow.execution.failed');

    await bus.publish(failed);
    const seen = recorder();
    await bus.subscribe({ queue, bindings: ['workflow.#'] }, seen.record);
    await seen.received(1);

    expect(seen.deliveries).toEqual([{ event: failed, redelivered: false }]);
  });

  it('answers ping', async () => {
    const bus = await open();

    await expect(bus.ping()).resolves.toBeUndefined();
  });
}

describe('InMemoryEventBus', () => {
  const opened: EventBus[] = [];

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((bus) => bus.close()));
  });

  behavesAsAnEventBus(async () => {
    const bus = new InMemoryEventBus(recordingLogger().logger);
    opened.push(bus);
    return bus;
  });

  it('drops an event no queue is bound to', async () => {
    const bus = new InMemoryEventBus(recordingLogger().logger);
    opened.push(bus);

    await bus.publish(event('workflow.created'));
    const seen = recorder();
    await bus.subscribe({ queue: 'late', bindings: ['#'] }, seen.record);
    await bus.publish(event('workflow.deleted'));
    await seen.received(1);

    expect(seen.types()).toEqual(['workflow.deleted']);
  });

  it('is what createEventBus shares between the services of one process when no RabbitMQ URL is configured', async () => {
    const namespace = `shared-${randomUUID()}`;
    const publisher = createEventBus(undefined, recordingLogger().logger, namespace);
    const consumer = createEventBus(undefined, recordingLogger().logger, namespace);
    opened.push(publisher, consumer);
    const received = createDeferred<DomainEvent>();
    await consumer.subscribe({ queue: 'shared', bindings: ['workflow.#'] }, async (event) => received.resolve(event));
    const event: DomainEvent = { id: randomUUID(), type: 'workflow.created', occurredAt: new Date().toISOString(), payload: {} };
    await publisher.publish(event);
    expect((await received.promise).id).toBe(event.id);
    expect(publisher).not.toBeInstanceOf(RabbitEventBus);
  });
});

describe.runIf(testEnvironment.amqpUrl)('RabbitEventBus on the real RabbitMQ', () => {
  const amqpUrl = testEnvironment.amqpUrl!;
  // An exchange of this run's own, so that parallel runs never receive each other's events.
  const exchange = unique('events');
  let admin: ChannelModel;
  const opened: EventBus[] = [];

  function open() {
    const bus = new RabbitEventBus(amqpUrl, recordingLogger().logger, { exchange });
    opened.push(bus);
    return bus;
  }

  /** A queue of the test's own bound to the exchange, to look at messages as RabbitMQ holds them. */
  async function tap(bindingExchange: string, pattern: string) {
    const channel = await admin.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, bindingExchange, pattern);
    return {
      async next() {
        const message = await channel.get(queue, { noAck: true });
        if (message === false) throw new Error('no message in the tap');
        return message;
      },
      close: () => channel.close(),
    };
  }

  beforeAll(async () => {
    admin = await connect(amqpUrl);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((bus) => bus.close()));
  });

  afterAll(async () => {
    const channel = await admin.createChannel();
    for (const queue of queueNames) await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
    await admin.close();
  });

  behavesAsAnEventBus(async () => open());

  it('publishes persistent JSON messages routed by the event type, with the event id as message id', async () => {
    const bus = open();
    const seen = await tap(exchange, 'workflow.execution.*');
    const failed = event('workflow.execution.failed', { executionId: 'execution-1' });

    await bus.publish(failed);

    const message = await seen.next();
    await seen.close();
    expect(message.fields.routingKey).toBe('workflow.execution.failed');
    expect(message.properties).toMatchObject({
      messageId: failed.id,
      type: 'workflow.execution.failed',
      contentType: 'application/json',
      deliveryMode: 2,
    });
    expect(JSON.parse(message.content.toString())).toEqual(failed);
  });

  it('uses the durable topic exchange nexusflow.events unless told otherwise', async () => {
    const bus = createEventBus(amqpUrl, recordingLogger().logger);
    opened.push(bus);
    const type = unique('created');
    // Declares the exchange, so that the tap can be bound to it.
    await bus.ping();
    const seen = await tap(EVENTS_EXCHANGE, type);

    await bus.publish(event(type));

    expect(bus).toBeInstanceOf(RabbitEventBus);
    expect((await seen.next()).fields.exchange).toBe(EVENTS_EXCHANGE);
    await seen.close();
  });

  it('no longer answers ping once closed', async () => {
    const bus = open();
    await bus.ping();

    await bus.close();

    await expect(bus.ping()).rejects.toThrow('the RabbitMQ connection is closed');
  });
});
