import { createServer, type Server, type Socket } from 'node:net';
import { EntitySchema } from '@mikro-orm/core';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './database.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { isDependencyOutage } from '../platform/outages.ts';
import { createTestDatabase, type TestDatabase } from '../testing/databases.ts';
import { testEnvironment } from '../testing/environment.ts';
import { TcpProxy } from '../testing/tcp-proxy.ts';

const Probe = new EntitySchema({ name: 'Probe', properties: { id: { type: 'number', primary: true } } });

const open = (url: string, options: { poolSize?: number; connectTimeoutMs: number }) =>
  openDatabase({
    serviceName: 'probe',
    url,
    embeddedDirectory: '.',
    entities: [Probe],
    migrations: [],
    metrics: new Metrics('probe'),
    logger: createLogger({ name: 'probe', level: 'silent', format: 'json' }),
    ...options,
  });

/** A "PostgreSQL" that accepts connections and never says a word, as a server behind a dropped route looks. */
async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as { port: number };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/nexusflow`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((closed) => server.close(() => closed()));
    },
  };
}

describe('a database that does not answer', () => {
  let silent: Awaited<ReturnType<typeof startSilentServer>>;
  beforeAll(async () => {
    silent = await startSilentServer();
  });
  afterAll(() => silent.close());

  it('fails as an outage once the connection timeout has passed, instead of waiting forever', async () => {
    const startedAt = Date.now();

    const error = await open(silent.url, { connectTimeoutMs: 200 }).then(
      () => undefined,
      (failure: unknown) => failure,
    );

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/timeout/);
    expect(isDependencyOutage(error)).toBe(true);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(200);
    expect(Date.now() - startedAt).toBeLessThan(5000);
  });
});

describe.runIf(testEnvironment.postgresUrl)('a PostgreSQL that goes away while transactions are in flight', () => {
  let testDatabase: TestDatabase;
  let proxy: TcpProxy;
  let database: Database | undefined;
  beforeAll(async () => {
    testDatabase = await createTestDatabase(testEnvironment.postgresUrl!, 'kit_pool');
    proxy = await TcpProxy.start(testDatabase.url);
  });
  afterEach(async () => {
    proxy.bringUp();
    await database?.close();
  });
  afterAll(async () => {
    await proxy?.close();
    await testDatabase?.drop();
  });

  /** Resolves once the server runs `count` statements of this test's database that match `query`. */
  async function serverRuns(query: string, count: number): Promise<void> {
    const admin = new pg.Client({ connectionString: testEnvironment.postgresUrl });
    await admin.connect();
    try {
      const name = new URL(testDatabase.url).pathname.slice(1);
      const running = async () =>
        (
          await admin.query<{ count: number }>('select count(*)::int as count from pg_stat_activity where datname = $1 and query = $2', [
            name,
            query,
          ])
        ).rows[0]!.count;
      await expect.poll(running, { timeout: 10_000, interval: 20 }).toBe(count);
    } finally {
      await admin.end();
    }
  }

  it('gets every pooled connection back once the server returns, so that it serves again and closes', async () => {
    database = await open(proxy.urlFor(testDatabase.url), { poolSize: 2, connectTimeoutMs: 1000 });
    const sleeping = 'select pg_sleep(30)';
    const transactions = [1, 2].map(() =>
      database!.fork().transactional((em) => em.getConnection().execute(sleeping, [], 'all', em.getTransactionContext())),
    );
    await serverRuns(sleeping, 2);

    proxy.takeDown();
    const failures = await Promise.allSettled(transactions);
    proxy.bringUp();

    expect(failures.map((failure) => failure.status === 'rejected' && isDependencyOutage(failure.reason))).toEqual([true, true]);
    // Both connections of the pool were in the interrupted transactions: a statement can run only if they came back.
    await expect(
      database.fork().transactional((em) => em.getConnection().execute('select 1 as one', [], 'all', em.getTransactionContext())),
    ).resolves.toEqual([{ one: 1 }]);
    await expect(Promise.all([database.ping(), database.ping()])).resolves.toEqual([undefined, undefined]);
    const closing = database.close();
    database = undefined;
    await expect(closing).resolves.toBeUndefined();
  });
});
