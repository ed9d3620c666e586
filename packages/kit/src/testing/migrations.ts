import type { MigrationObject } from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type DatabaseOptions } from '../database.ts';
import { createLogger } from '../logger.ts';
import { Metrics } from '../metrics.ts';
import { createTempDirectory } from './databases.ts';

/**
 * Every service's migrations must build exactly the schema its entities describe, and be recorded as
 * applied: an entity changed without a migration fails here, not in production.
 */
export function describeMigrations(serviceName: string, entities: DatabaseOptions['entities'], migrations: MigrationObject[]): void {
  describe(`${serviceName} migrations`, () => {
    let database: Database;
    let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;

    beforeAll(async () => {
      dataDir = await createTempDirectory(`${serviceName}-migrations`);
      database = await openDatabase({
        serviceName,
        url: undefined,
        embeddedDirectory: dataDir.path,
        entities,
        migrations,
        metrics: new Metrics(serviceName),
        logger: createLogger({ name: serviceName, level: 'silent' }),
      });
    });

    afterAll(async () => {
      await database?.close();
      await dataDir?.remove();
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
