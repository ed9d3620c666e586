import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Migration } from '@mikro-orm/migrations';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../storage/database.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { OUTBOX_TABLE_SQL, OutboxEvent, recordEvent } from '../messaging/outbox.ts';
import { createTempDirectory } from './databases.ts';
import { seedEmbeddedDatabase, type EmbeddedStorage } from './database-templates.ts';

class OutboxTable extends Migration {
  override up(): void {
    for (const statement of OUTBOX_TABLE_SQL) this.addSql(statement);
  }
}

class OutboxSourceColumn extends Migration {
  override up(): void {
    this.addSql(`alter table "outbox_events" add column "source" varchar(255) null`);
  }
}

const firstVersion: EmbeddedStorage = { entities: [OutboxEvent], migrations: [{ name: '0001-outbox', class: OutboxTable }] };
const secondVersion: EmbeddedStorage = {
  ...firstVersion,
  migrations: [...firstVersion.migrations, { name: '0002-source', class: OutboxSourceColumn }],
};

describe('migrated database templates', () => {
  let scratch: Awaited<ReturnType<typeof createTempDirectory>>;
  const cacheDirectory = () => join(scratch.path, 'templates');
  /** The service's migrated templates, beside the one empty cluster they are all built from. */
  const serviceTemplates = async () => (await readdir(cacheDirectory())).filter((name) => !name.startsWith('cluster-'));
  const dataDir = (name: string) => join(scratch.path, name);
  const seed = (name: string, storage: EmbeddedStorage) =>
    seedEmbeddedDatabase(dataDir(name), 'outbox', storage, { cacheDirectory: cacheDirectory() });
  const open = (name: string, storage: EmbeddedStorage) =>
    openDatabase({
      serviceName: 'outbox',
      url: undefined,
      embeddedDirectory: dataDir(name),
      ...storage,
      metrics: new Metrics('templates-test'),
      logger: createLogger({ name: 'templates-test', level: 'silent' }),
    });

  beforeEach(async () => {
    scratch = await createTempDirectory('templates');
  });

  afterEach(async () => {
    await scratch.remove();
  });

  it('builds one template when several tests ask for it at once, and gives each a migrated database of its own', async () => {
    await Promise.all(['a', 'b', 'c'].map((name) => seed(name, firstVersion)));

    expect(await serviceTemplates()).toEqual([expect.stringMatching(/^outbox-[0-9a-f]{16}$/)]);
    expect((await readdir(cacheDirectory())).filter((name) => name.startsWith('cluster-'))).toHaveLength(1);
    const a = await open('a', firstVersion);
    try {
      expect(await a.orm.migrator.getPending()).toEqual([]);
      const em = a.fork();
      recordEvent(em, { type: 'only.in.a', payload: {} });
      await em.flush();
    } finally {
      await a.close();
    }
    const b = await open('b', firstVersion);
    try {
      expect(await b.fork().count(OutboxEvent, {})).toBe(0);
    } finally {
      await b.close();
    }
  }, 120_000);

  it('builds a new template when a migration is added, never handing out a database that lacks it', async () => {
    await seed('before', firstVersion);
    await seed('after', secondVersion);

    expect(await serviceTemplates()).toHaveLength(2);
    const after = await open('after', secondVersion);
    try {
      expect(await after.orm.migrator.getPending()).toEqual([]);
      expect((await after.orm.migrator.getExecuted()).map((migration) => migration.name)).toEqual(['0001-outbox', '0002-source']);
    } finally {
      await after.close();
    }
  });
});
