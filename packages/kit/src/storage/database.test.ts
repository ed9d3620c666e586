import { createServer, type Server, type Socket } from 'node:net';
import { EntitySchema, type MigrationObject } from '@mikro-orm/core';
import { Migration } from '@mikro-orm/migrations';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type DatabaseOptions } from './database.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { isDependencyOutage } from '../platform/outages.ts';
import { createTestDatabase, type TestDatabase } from '../testing/databases.ts';
import { testEnvironment } from '../testing/environment.ts';
import { TcpProxy } from '../testing/tcp-proxy.ts';

const Probe = new EntitySchema({ name: 'Probe', properties: { id: { type: 'number', primary: true } } });

type ProbeOptions = Pick<DatabaseOptions, 'poolSize' | 'lockTimeoutMs' | 'statementTimeoutMs' | 'idleInTransactionTimeoutMs'> & {
  connectTimeoutMs: number;
  migrations?: MigrationObject[];
};

const open = (url: string, options: ProbeOptions) =>
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
    database = await open(proxy.urlFor(testDatabase.url), { poolSize: 2, connectTimeoutMs: 1000, statementTimeoutMs: 0 });
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

describe.runIf(testEnvironment.postgresUrl)('a PostgreSQL statement or transaction that would hold others up for good', () => {
  let testDatabase: TestDatabase;
  let database: Database | undefined;
  beforeAll(async () => {
    testDatabase = await createTestDatabase(testEnvironment.postgresUrl!, 'kit_timeouts');
    const setup = new pg.Client({ connectionString: testDatabase.url });
    await setup.connect();
    await setup.query('create table lane_heads (id int primary key, position int not null)');
    await setup.query('insert into lane_heads values (1, 0)');
    await setup.end();
  });
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });
  afterAll(() => testDatabase?.drop());

  const openWith = (
    limits: Pick<ProbeOptions, 'lockTimeoutMs' | 'statementTimeoutMs' | 'idleInTransactionTimeoutMs'>,
    migrations: MigrationObject[] = [],
  ) => open(testDatabase.url, { poolSize: 2, connectTimeoutMs: 5000, migrations, ...limits });

  it('gives every connection the default limits unless told otherwise', async () => {
    database = await openWith({});

    const settings = await database.fork().getConnection().execute(`select current_setting('lock_timeout') as lock,
      current_setting('statement_timeout') as statement, current_setting('idle_in_transaction_session_timeout') as idle`);

    expect(settings).toEqual([{ lock: '10s', statement: '1min', idle: '2min' }]);
  });

  it('has the server give up on a statement waiting for a lock past the lock timeout, as an outage, and serves the next one', async () => {
    database = await openWith({ lockTimeoutMs: 300 });
    const holder = new pg.Client({ connectionString: testDatabase.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select * from lane_heads where id = 1 for update');

      const stuck = database
        .fork()
        .getConnection()
        .execute('update lane_heads set position = position + 1 where id = 1')
        .then(
          () => undefined,
          (error: unknown) => error,
        );

      // Given up by the server, as an outage: SERVICE_UNAVAILABLE to a client, worth a retry, and the caller moves on.
      expect(await stuck).toMatchObject({ code: '55P03' });
      expect(isDependencyOutage(await stuck)).toBe(true);
      await holder.query('rollback');
      await expect(
        database.fork().getConnection().execute('update lane_heads set position = position + 1 where id = 1'),
      ).resolves.toBeDefined();
    } finally {
      await holder.end();
    }
  });

  it('has the server cancel a statement that runs past the statement timeout, as the error it is rather than an outage', async () => {
    database = await openWith({ statementTimeoutMs: 300 });

    const runaway = await database
      .fork()
      .getConnection()
      .execute('select pg_sleep(5)')
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    expect(runaway).toMatchObject({ code: '57014' });
    expect(isDependencyOutage(runaway)).toBe(false);
    await expect(database.ping()).resolves.toBeUndefined();
  });

  it('runs migrations without the limits: one may outlast the statement timeout', async () => {
    class SlowBackfill extends Migration {
      override up(): void {
        this.addSql('select pg_sleep(0.6)');
        this.addSql('create table backfilled (id int primary key)');
      }
    }

    database = await openWith({ statementTimeoutMs: 300, lockTimeoutMs: 300 }, [{ name: '0001-slow-backfill', class: SlowBackfill }]);

    expect((await database.orm.migrator.getExecuted()).map((migration) => migration.name)).toEqual(['0001-slow-backfill']);
    await expect(database.fork().getConnection().execute('select count(*)::int as count from backfilled')).resolves.toEqual([{ count: 0 }]);
  });

  it('has the server end a session left idle inside a transaction, so that its locks no longer keep others out', async () => {
    database = await openWith({ idleInTransactionTimeoutMs: 300, statementTimeoutMs: 10_000 });
    let releaseHolder!: () => void;
    const holderStalls = new Promise<void>((resolve) => (releaseHolder = resolve));
    let holderLocked!: () => void;
    const locked = new Promise<void>((resolve) => (holderLocked = resolve));
    // A holder that takes the row's lock inside a transaction and then stalls: its process frozen, its reply lost.
    const holder = database.fork().transactional(async (em) => {
      await em.getConnection().execute('select * from lane_heads where id = 1 for update', [], 'all', em.getTransactionContext());
      holderLocked();
      await holderStalls;
      await em.getConnection().execute('select 1', [], 'all', em.getTransactionContext());
    });
    const holderOutcome = holder.then(
      () => undefined,
      (error: unknown) => error,
    );
    await locked;

    // Waits on the holder's lock, which only the server ending the holder's session can free.
    await database.fork().getConnection().execute('update lane_heads set position = position + 1 where id = 1');
    releaseHolder();

    // Its connection is gone: what it was doing fails as an outage (SERVICE_UNAVAILABLE to a client), and is retried.
    expect(isDependencyOutage(await holderOutcome)).toBe(true);
    await expect(database.ping()).resolves.toBeUndefined();
  });
});
