import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestDatabase {
  /** The PostgreSQL URL to hand to a service. */
  url: string;
  drop: () => Promise<void>;
}

async function withAdminClient<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh database on a real PostgreSQL server, so that test files can run in parallel without sharing rows. */
export async function createTestDatabase(serverUrl: string, label: string): Promise<TestDatabase> {
  const name = `nf_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await withAdminClient(serverUrl, (client) => client.query(`create database "${name}"`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withAdminClient(serverUrl, (client) => client.query(`drop database if exists "${name}" with (force)`)).then(() => undefined),
  };
}

/** Room enough for many stacks' embedded databases (about 40 MB each) at once. */
const MEMORY_SCRATCH_MIN_FREE_BYTES = 4 * 1024 ** 3;
const MEMORY_SCRATCH = '/dev/shm';

let scratchRoot: Promise<string> | undefined;

/**
 * Where tests keep files they throw away: the memory-backed `/dev/shm` when it has room, where copying and writing an
 * embedded database is many times faster than on a virtual disk; the OS temporary folder otherwise (a container's
 * default 64 MB `/dev/shm` would fill).
 */
export function testScratchRoot(): Promise<string> {
  scratchRoot ??= statfs(MEMORY_SCRATCH).then(
    (stats) => (stats.bavail * stats.bsize >= MEMORY_SCRATCH_MIN_FREE_BYTES ? MEMORY_SCRATCH : tmpdir()),
    () => tmpdir(),
  );
  return scratchRoot;
}

/** A scratch folder for an embedded database's files, removed afterwards. */
export async function createTempDirectory(label: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(await testScratchRoot(), `nexusflow-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
