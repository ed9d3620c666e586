import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, Metrics, openDatabase, type Database } from '@nexusflow/kit';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { RefreshToken } from '../src/entities/refresh-token.entity.ts';
import { Tenant } from '../src/entities/tenant.entity.ts';
import { User } from '../src/entities/user.entity.ts';
import { migrations } from '../src/migrations/index.ts';

describe('auth migrations', () => {
  let database: Database;
  let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;

  beforeAll(async () => {
    dataDir = await createTempDirectory('auth-migrations');
    database = await openDatabase({
      serviceName: 'auth',
      url: undefined,
      embeddedDirectory: dataDir.path,
      entities: [Tenant, User, RefreshToken],
      migrations,
      metrics: new Metrics('auth'),
      logger: createLogger({ name: 'auth', level: 'silent' }),
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
