import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, type RunningSubgraph } from '@nexusflow/kit';
import pg from 'pg';
import { createTempDirectory, createTestDatabase, postGraphQL, testEnvironment, type TestDatabase } from '@nexusflow/kit/testing';
import type { AuthServices } from '../src/context.ts';
import { subgraph as auth } from '../src/subgraph.ts';

// The database is taken away for real: its connections are terminated and new ones refused.
describe.runIf(testEnvironment.postgresUrl)('the auth subgraph when its PostgreSQL database goes away', () => {
  let subgraph: RunningSubgraph<AuthServices>;
  let database: TestDatabase;
  let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;

  beforeAll(async () => {
    dataDir = await createTempDirectory('auth-failures');
    database = await createTestDatabase(testEnvironment.postgresUrl!, 'auth_failures');
    subgraph = await auth.start({ PORT: '0', DATA_DIR: dataDir.path, DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
    const name = new URL(database.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: testEnvironment.postgresUrl });
    await admin.connect();
    await admin.query(`alter database "${name}" allow_connections false`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name]);
    await admin.end();
  });

  afterAll(async () => {
    await subgraph?.close();
    await database?.drop();
    await dataDir?.remove();
  });

  const identity = { kind: 'user' as const, userId: crypto.randomUUID(), tenantId: crypto.randomUUID(), roles: [Role.Owner] };

  it('answers SERVICE_UNAVAILABLE (retryable) with a generic message, revealing no SQL or connection details', async () => {
    const response = await postGraphQL(subgraph.graphqlUrl, '{ me { id email } }', {
      headers: signIdentity(identity, subgraph.config.internalSecret),
    });
    expect(response.status).toBe(200);
    expect(response.data).toEqual({ me: null });
    expect(response.errors).toEqual([
      {
        message: 'Temporarily unavailable; try again shortly',
        path: ['me'],
        locations: [{ line: 1, column: 3 }],
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      },
    ]);
  });

  it('reports not ready, naming the database, while staying live', async () => {
    const ready = await fetch(`${subgraph.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { database: { status: string } } }).checks.database.status).toBe('down');
    expect((await fetch(`${subgraph.url}/health/live`)).status).toBe(200);
  });
});
