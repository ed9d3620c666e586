import { join } from 'node:path';
import type { MigrationObject } from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type DatabaseOptions } from '../storage/database.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { createTempDirectory, createTestDatabase } from './databases.ts';
import { seedEmptyCluster } from './database-templates.ts';
import { testEnvironment } from './environment.ts';

type StorageMode = 'embedded' | 'postgres';

/** Where the migrations run: a fresh PGlite folder, or a fresh database on the real PostgreSQL server. */
async function scratchDatabase(
  mode: StorageMode,
  serviceName: string,
): Promise<{ url: string | undefined; directory: string; remove: () => Promise<void> }> {
  const dataDir = await createTempDirectory(`${serviceName}-migrations`);
  if (mode === 'embedded') {
    // An empty cluster, so that every migration runs here rather than the copy of a migrated template tests get.
    await seedEmptyCluster(join(dataDir.path, serviceName));
    return { url: undefined, directory: dataDir.path, remove: dataDir.remove };
  }
  const database = await createTestDatabase(testEnvironment.postgresUrl!, `${serviceName}_migrations`);
  return {
    url: database.url,
    directory: dataDir.path,
    remove: async () => {
      await database.drop();
      await dataDir.remove();
    },
  };
}

/**
 * Every service's migrations must build exactly the schema its entities describe, and be recorded as
 * applied: an entity changed without a migration fails here, not in production. Checked on PGlite and on
 * the real PostgreSQL (when TEST_POSTGRES_URL is set, always under CI), whose introspection can differ.
 */
export function describeMigrations(serviceName: string, entities: DatabaseOptions['entities'], migrations: MigrationObject[]): void {
  for (const mode of ['embedded', 'postgres'] as const) {
    describe.runIf(mode === 'embedded' || testEnvironment.postgresUrl)(`${serviceName} migrations on ${mode} storage`, () => {
      let database: Database;
      let scratch: Awaited<ReturnType<typeof scratchDatabase>>;

      beforeAll(async () => {
        scratch = await scratchDatabase(mode, serviceName);
        database = await openDatabase({
          serviceName,
          url: scratch.url,
          embeddedDirectory: scratch.directory,
          entities,
          migrations,
          metrics: new Metrics(serviceName),
          logger: createLogger({ name: serviceName, level: 'silent' }),
        });
      });

      afterAll(async () => {
        await database?.close();
        await scratch?.remove();
      });

      it('build exactly the schema the entities describe, so that no change is left without a migration', async () => {
        const drift = await database.orm.schema.getUpdateSchemaSQL({ wrap: false });
        expect(drift.trim()).toBe('');
      });

      it('are recorded as applied, so that a restart runs none of them again', async () => {
        expect(await database.orm.migrator.getPending()).toEqual([]);
        const executed = await database.orm.migrator.getExecuted();
        expect(executed.map((migration) => migration.name)).toEqual(migrations.map((migration) => migration.name));
      });
    });
  }
}
