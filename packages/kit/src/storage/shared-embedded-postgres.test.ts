import { join } from 'node:path';
import type { MigrationObject } from '@mikro-orm/core';
import { Migration } from '@mikro-orm/migrations';
import { defineEntity, p } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './database.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { serveEmbeddedDatabase, SharedEmbeddedPostgres } from './shared-embedded-postgres.ts';
import { createTempDirectory } from '../testing/databases.ts';

const NoteSchema = defineEntity({
  name: 'Note',
  tableName: 'notes',
  properties: { id: p.integer().primary().autoincrement(), text: p.string() },
});

/** The same first migration in two services: each creates its own `notes`. */
class NotesTable extends Migration {
  override up(): void {
    this.addSql(`create table "notes" ("id" serial primary key, "text" varchar(255) not null)`);
  }
}

class NotesTags extends Migration {
  override up(): void {
    this.addSql(`alter table "notes" add column "tag" varchar(255) null`);
  }
}

const silent = createLogger({ name: 'shared-embedded-test', level: 'silent' });

describe('one embedded PostgreSQL shared by the services of a process', () => {
  let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;
  let server: SharedEmbeddedPostgres;
  let alpha: Database;
  let beta: Database;

  const open = (serviceName: string, migrations: MigrationObject[]) =>
    openDatabase({
      serviceName,
      url: undefined,
      embeddedDirectory: join(dataDir.path, 'services'),
      entities: [NoteSchema],
      migrations,
      metrics: new Metrics(serviceName),
      logger: silent,
    });

  const startServer = async () => {
    server = await SharedEmbeddedPostgres.start({
      directory: join(dataDir.path, 'postgres'),
      holder: 'the test',
      idleInTransactionTimeoutMs: 500,
    });
    serveEmbeddedDatabase(join(dataDir.path, 'services', 'alpha'), server, 'test_alpha');
    serveEmbeddedDatabase(join(dataDir.path, 'services', 'beta'), server, 'test_beta');
  };

  beforeAll(async () => {
    dataDir = await createTempDirectory('shared-embedded');
    await startServer();
    [alpha, beta] = await Promise.all([
      open('alpha', [
        { name: '0001-notes', class: NotesTable },
        { name: '0002-tags', class: NotesTags },
      ]),
      open('beta', [{ name: '0001-notes', class: NotesTable }]),
    ]);
  });
  afterAll(async () => {
    await alpha?.close();
    await beta?.close();
    await server?.close();
    await dataDir?.remove();
  });

  it('gives each service its own tables and its own migrations, under one name in both', async () => {
    await alpha.fork().getConnection().execute(`insert into notes (text, tag) values ('alpha 1', 'a'), ('alpha 2', 'a')`);
    await beta.fork().getConnection().execute(`insert into notes (text) values ('beta 1')`);

    expect(await alpha.fork().getConnection().execute('select text from notes order by id')).toEqual([
      { text: 'alpha 1' },
      { text: 'alpha 2' },
    ]);
    expect(await beta.fork().getConnection().execute('select text from notes')).toEqual([{ text: 'beta 1' }]);
    expect(await alpha.fork().getConnection().execute('select name from mikro_orm_migrations order by id')).toEqual([
      { name: '0001-notes' },
      { name: '0002-tags' },
    ]);
    expect(await beta.fork().getConnection().execute('select name from mikro_orm_migrations')).toEqual([{ name: '0001-notes' }]);
    expect(alpha.mode).toBe('embedded');
  });

  it("refuses a service another service's tables, even named in full", async () => {
    await expect(beta.fork().getConnection().execute('select * from test_alpha.notes')).rejects.toThrow(
      /permission denied for schema test_alpha/,
    );
    await expect(beta.fork().getConnection().execute('create table public.stray (id int)')).rejects.toThrow(
      /permission denied for schema public/,
    );
  });

  it('keeps a transaction of one service whole while another service works, each seeing its own', async () => {
    const writer = alpha.fork();
    const reader = beta.fork();
    let during: Promise<unknown> | undefined;
    await writer.transactional(async (em) => {
      await em.getConnection().execute(`insert into notes (text) values ('alpha in a transaction')`, [], 'run', em.getTransactionContext());
      // Asked for between two statements of alpha's transaction, beta waits for its end, then sees its own table.
      during = reader.getConnection().execute('select count(*)::int as count from notes');
      await em.getConnection().execute(`insert into notes (text) values ('alpha again')`, [], 'run', em.getTransactionContext());
    });
    expect(await during).toEqual([{ count: 1 }]);
    expect(await alpha.fork().getConnection().execute(`select count(*)::int as count from notes where text like 'alpha%'`)).toEqual([
      { count: 4 },
    ]);
  });

  it('rolls back what a lost connection left open, and lets the others go on', async () => {
    const client = new pg.Client({ connectionString: await server.provision('test_alpha') });
    client.on('error', () => {});
    await client.connect();
    await client.query('begin');
    await client.query(`insert into notes (text) values ('never committed')`);
    client.connection.stream.destroy();

    expect(await beta.fork().getConnection().execute('select count(*)::int as count from notes')).toEqual([{ count: 1 }]);
    expect(await alpha.fork().getConnection().execute(`select count(*)::int as count from notes where text = 'never committed'`)).toEqual([
      { count: 0 },
    ]);
  });

  it('ends a transaction left idle while others wait, as idle_in_transaction_session_timeout does', async () => {
    const client = new pg.Client({ connectionString: await server.provision('test_alpha') });
    const errors: Error[] = [];
    client.on('error', (error) => errors.push(error));
    await client.connect();
    await client.query('begin');
    await client.query(`insert into notes (text) values ('left idle')`);

    expect(await beta.fork().getConnection().execute('select count(*)::int as count from notes')).toEqual([{ count: 1 }]);
    expect(errors.map(({ message }) => message)).toContainEqual(expect.stringMatching(/idle-in-transaction timeout/));
    expect(await alpha.fork().getConnection().execute(`select count(*)::int as count from notes where text = 'left idle'`)).toEqual([
      { count: 0 },
    ]);
  });

  it('refuses a service it does not serve, and a database other than its one', async () => {
    const unknown = new pg.Client({ connectionString: `postgresql://test_gamma@${server.address}/postgres` });
    await expect(unknown.connect()).rejects.toThrow(/role "test_gamma" is not a database this server serves/);
    const elsewhere = new pg.Client({ connectionString: `postgresql://test_alpha@${server.address}/test_alpha` });
    await expect(elsewhere.connect()).rejects.toThrow(/database "test_alpha" does not exist/);
  });

  it('keeps every database across a restart of the server', async () => {
    await alpha.close();
    await beta.close();
    await server.close();
    await startServer();
    [alpha, beta] = await Promise.all([
      open('alpha', [
        { name: '0001-notes', class: NotesTable },
        { name: '0002-tags', class: NotesTags },
      ]),
      open('beta', [{ name: '0001-notes', class: NotesTable }]),
    ]);

    expect(await beta.fork().getConnection().execute('select text from notes')).toEqual([{ text: 'beta 1' }]);
    expect(await alpha.fork().getConnection().execute(`select count(*)::int as count from notes`)).toEqual([{ count: 4 }]);
  });

  it('opens a database of its own, as before, for a service whose folder it does not serve', async () => {
    const alone = await open('gamma', [{ name: '0001-notes', class: NotesTable }]);
    try {
      expect(await alone.fork().getConnection().execute('select current_user as user')).toEqual([{ user: 'postgres' }]);
    } finally {
      await alone.close();
    }
  });
});
