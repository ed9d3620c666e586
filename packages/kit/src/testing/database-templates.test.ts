import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Migration } from '@mikro-orm/migrations';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../storage/database.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { OUTBOX_TABLE_SQL, OutboxEvent, recordEvent } from '../messaging/outbox.ts';
import { createTempDirectory } from './databases.ts';
import { emptyClusterTemplate, seedEmbeddedDatabase, seedEmptyCluster, type EmbeddedStorage } from './database-templates.ts';

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

// One template cache for the file, its empty cluster copied from the machine's cache (creating one, an initdb, is
// seconds of CPU that every other test file's database is spared too; the machine's cache creates it when it has none,
// and the migrations suites open clusters made so); each test seeds a service of its own, whose templates it counts.
describe('migrated database templates', () => {
  let scratch: Awaited<ReturnType<typeof createTempDirectory>>;
  const cacheDirectory = () => join(scratch.path, 'templates');
  /** The service's migrated templates, beside the one empty cluster they are all built from. */
  const serviceTemplates = async (service: string) =>
    (await readdir(cacheDirectory())).filter((name) => new RegExp(`^${service}-[0-9a-f]{16}$`).test(name));
  const dataDir = (name: string) => join(scratch.path, name);
  const seed = (service: string, name: string, storage: EmbeddedStorage) =>
    seedEmbeddedDatabase(dataDir(name), service, storage, { cacheDirectory: cacheDirectory() });
  const open = (service: string, name: string, storage: EmbeddedStorage) =>
    openDatabase({
      serviceName: service,
      url: undefined,
      embeddedDirectory: dataDir(name),
      ...storage,
      metrics: new Metrics('templates-test'),
      logger: createLogger({ name: 'templates-test', level: 'silent' }),
    });

  beforeAll(async () => {
    scratch = await createTempDirectory('templates');
    await seedEmptyCluster(await emptyClusterTemplate({ cacheDirectory: cacheDirectory() }));
  });

  afterAll(async () => {
    await scratch?.remove();
  });

  it('builds one template when several tests ask for it at once, and gives each a migrated database of its own', async () => {
    await Promise.all(['a', 'b', 'c'].map((name) => seed('outbox', name, firstVersion)));

    expect(await serviceTemplates('outbox')).toHaveLength(1);
    expect((await readdir(cacheDirectory())).filter((name) => name.startsWith('cluster-'))).toHaveLength(1);
    const a = await open('outbox', 'a', firstVersion);
    try {
      expect(await a.orm.migrator.getPending()).toEqual([]);
      const em = a.fork();
      recordEvent(em, { type: 'only.in.a', payload: {} });
      await em.flush();
    } finally {
      await a.close();
    }
    const b = await open('outbox', 'b', firstVersion);
    try {
      expect(await b.fork().count(OutboxEvent, {})).toBe(0);
    } finally {
      await b.close();
    }
  }, 120_000);

  it('builds a new template when a migration is added, never handing out a database that lacks it', async () => {
    await seed('ledger', 'before', firstVersion);
    await seed('ledger', 'after', secondVersion);

    expect(await serviceTemplates('ledger')).toHaveLength(2);
    const after = await open('ledger', 'after', secondVersion);
    try {
      expect(await after.orm.migrator.getPending()).toEqual([]);
      expect((await after.orm.migrator.getExecuted()).map((migration) => migration.name)).toEqual(['0001-outbox', '0002-source']);
    } finally {
      await after.close();
    }
  });
});
