import { randomUUID } from 'node:crypto';
import { Migration } from '@mikro-orm/migrations';
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { openDatabase, type Database } from '../storage/database.ts';
import { InMemoryEventBus, RabbitEventBus, type DomainEvent } from './event-bus.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { OUTBOX_TABLE_SQL, OutboxEvent, OutboxRelay, recordEvent, TURN_REFUSED } from './outbox.ts';
import {
  createDeferred,
  createTempDirectory,
  createTestDatabase,
  recordingLogger,
  storageModes,
  TcpProxy,
  testEnvironment,
} from '../testing/index.ts';

class OutboxTable extends Migration {
  override name = '0001-outbox';

  override up(): void {
    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }
}

describe.each(storageModes(['postgres']))('OutboxRelay on $storage', ({ mode }) => {
  let database: Database;
  let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>> | undefined;

  beforeAll(async () => {
    dataDir = await createTempDirectory('outbox-relay');
    if (mode === 'postgres') testDatabase = await createTestDatabase(testEnvironment.postgresUrl!, 'outbox_relay');
    database = await openDatabase({
      serviceName: 'outbox',
      url: testDatabase?.url,
      embeddedDirectory: dataDir.path,
      entities: [OutboxEvent],
      migrations: [{ name: '0001-outbox', class: OutboxTable }],
      metrics: new Metrics('outbox-test'),
      logger: createLogger({ name: 'outbox-test', level: 'silent' }),
    });
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
    await dataDir?.remove();
  });

  async function record(...types: string[]): Promise<string[]> {
    const em = database.fork();
    const events = types.map((type) => recordEvent(em, { type, payload: { type } }));
    await em.flush();
    return events.map((event) => event.id);
  }

  async function pending(ids: string[]): Promise<string[]> {
    const rows = await database.fork().find(OutboxEvent, { eventId: { $in: ids }, publishedAt: null });
    return rows.map((row) => row.type);
  }

  it('fans out every event in order, and marks each the broker confirmed even when its fan-out failed', async () => {
    const { logger, warnings } = recordingLogger();
    const fannedOut: string[] = [];
    const relay = new OutboxRelay(database, new InMemoryEventBus(logger), logger, {
      onRelayed: (event: DomainEvent) => {
        fannedOut.push(event.type);
        if (event.type === 'note.updated') throw new Error('Redis is out of reach');
      },
    });
    const ids = await record('note.created', 'note.updated', 'note.deleted');

    await relay.drain();

    expect(fannedOut).toEqual(['note.created', 'note.updated', 'note.deleted']);
    expect(await pending(ids)).toEqual([]);
    expect(warnings).toEqual([
      { fields: { events: 1 }, message: 'live fan-out failed; subscribers are told what they missed once it is back' },
    ]);
  });

  it('fans out live, once and in order, what a broker out of reach does not take, and leaves it pending for the broker', async () => {
    const { logger } = recordingLogger();
    // Nothing listens on port 1: every publish waits for a connection until its time is up.
    const bus = new RabbitEventBus('amqp://guest:guest@127.0.0.1:1', logger, { publishTimeoutMs: 100, maxReconnectDelayMs: 20 });
    onTestFinished(() => bus.close());
    const fannedOut: string[] = [];
    const relay = new OutboxRelay(database, bus, logger, {
      onRelayed: (event) => {
        fannedOut.push(event.type);
        // A fan-out that fails is not tried again by a later pass, after the events that followed it.
        if (event.type === 'note.archived') throw new Error('Redis is out of reach');
      },
    });
    const ids = await record('note.archived', 'note.restored');
    onTestFinished(async () => {
      await database.fork().nativeDelete(OutboxEvent, { eventId: { $in: ids } });
    });

    await relay.drain();
    await relay.drain();

    expect(fannedOut).toEqual(['note.archived', 'note.restored']);
    expect(await pending(ids)).toEqual(['note.archived', 'note.restored']);
  });

  // Skipped only without TEST_AMQP_URL (which CI always sets): a broker that comes back is the real RabbitMQ behind a proxy.
  it.runIf(testEnvironment.amqpUrl)(
    'fans out an event once though the broker took it only after coming back, then marks it (the real RabbitMQ only)',
    async () => {
      const { logger } = recordingLogger();
      const amqpUrl = testEnvironment.amqpUrl!;
      const proxy = await TcpProxy.start(amqpUrl);
      proxy.takeDown();
      const exchange = `outbox-relay-test-${randomUUID()}`;
      const bus = new RabbitEventBus(proxy.urlFor(amqpUrl), logger, { exchange, publishTimeoutMs: 300, maxReconnectDelayMs: 20 });
      onTestFinished(async () => {
        await bus.close();
        await proxy.close();
        const admin = await connect(amqpUrl);
        await (await admin.createChannel()).deleteExchange(exchange);
        await admin.close();
      });
      const fannedOut: string[] = [];
      const relay = new OutboxRelay(database, bus, logger, { onRelayed: (event) => void fannedOut.push(event.type) });
      const ids = await record('note.pinned');
      await relay.drain();
      expect(await pending(ids)).toEqual(['note.pinned']);

      proxy.bringUp();
      await expect.poll(async () => (await relay.drain(), pending(ids)), { timeout: 10_000, interval: 50 }).toEqual([]);

      expect(fannedOut).toEqual(['note.pinned']);
    },
  );

  it('publishes the events recorded while passes are in flight in the order they were recorded, each once', async () => {
    const { logger } = recordingLogger();
    const fannedOut: string[] = [];
    const relay = new OutboxRelay(database, new InMemoryEventBus(logger), logger, {
      batchSize: 3,
      onRelayed: (event) => void fannedOut.push(event.id),
    });
    const ids: string[] = [];

    for (let round = 0; round < 20; round++) {
      ids.push(...(await record(`note.created.${round}`, `note.updated.${round}`)));
      relay.notify();
    }

    await expect.poll(() => pending(ids), { timeout: 20_000, interval: 20 }).toEqual([]);
    await relay.stop();
    expect(fannedOut.filter((id) => ids.includes(id))).toEqual(ids);
  });

  /**
   * Two instances' relays on this database, the first of whose passes is held open once it fanned out its first event;
   * it is released, and the second relay stopped, when the test ends, however it ends.
   */
  async function twoInstancesWhileTheFirstPasses(recorded: string) {
    const { logger } = recordingLogger();
    const fannedOut: string[] = [];
    const holding = createDeferred();
    const release = createDeferred();
    const first = new OutboxRelay(database, new InMemoryEventBus(logger), logger, {
      onRelayed: async (event) => {
        fannedOut.push(event.type);
        holding.resolve();
        await release.promise;
      },
    });
    const refused = createDeferred();
    const secondLogger = { ...logger, debug: (message: string) => message === TURN_REFUSED && refused.resolve() } as unknown as Logger;
    const second = new OutboxRelay(database, new InMemoryEventBus(logger), secondLogger, {
      turnRetryMs: 5,
      onRelayed: (event) => void fannedOut.push(event.type),
    });
    const ids = await record(recorded);
    const firstPass = first.drain();
    onTestFinished(async () => {
      release.resolve();
      await firstPass;
      await second.stop();
    });
    await holding.promise;
    return { second, fannedOut, ids, refused, endFirstPass: () => (release.resolve(), firstPass) };
  }

  describe.runIf(mode === 'postgres')(
    "with two instances' relays at once (a real server only: the embedded one's single session runs one transaction at a time)",
    () => {
      it("has a second instance's pass publish nothing while the first's is in progress, so that events leave in the order recorded", async () => {
        const { second, fannedOut, ids, endFirstPass } = await twoInstancesWhileTheFirstPasses('step.started');
        ids.push(...(await record('step.completed')));

        expect(await second.drain()).toBe(0);
        expect(fannedOut).toEqual(['step.started']);
        await endFirstPass();
        await second.drain();

        expect(fannedOut).toEqual(['step.started', 'step.completed']);
        expect(await pending(ids)).toEqual([]);
      });

      it("has a relay refused its turn try again by itself once the other instance's pass is over", async () => {
        const { second, fannedOut, ids, refused, endFirstPass } = await twoInstancesWhileTheFirstPasses('step.started');
        ids.push(...(await record('step.completed')));
        second.notify();
        await refused.promise;
        await endFirstPass();

        await expect.poll(() => pending(ids), { timeout: 10_000, interval: 10 }).toEqual([]);
        expect(fannedOut).toEqual(['step.started', 'step.completed']);
      });
    },
  );
});
