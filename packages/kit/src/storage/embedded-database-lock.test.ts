import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EntitySchema } from '@mikro-orm/core';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type DatabaseOptions } from './database.ts';
import { embeddedDatabaseOwner, EmbeddedDatabaseInUseError, lockEmbeddedDatabase } from './embedded-database-lock.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { createTempDirectory } from '../testing/index.ts';

const Probe = new EntitySchema({ name: 'Probe', properties: { id: { type: 'number', primary: true } } });

const options = (dataDir: string): DatabaseOptions => ({
  serviceName: 'notes',
  url: undefined,
  embeddedDirectory: dataDir,
  entities: [Probe],
  migrations: [],
  metrics: new Metrics('embedded-lock-test'),
  logger: createLogger({ name: 'embedded-lock-test', level: 'silent' }),
});

describe('an embedded database folder', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function open(dataDir: string): Promise<Database> {
    const database = await openDatabase(options(dataDir));
    cleanups.push(() => database.close());
    return database;
  }

  it('is opened by one user at a time: a second opening is refused, naming the first, until the first closes it', async () => {
    const dataDir = await createTempDirectory('embedded-lock');
    cleanups.push(dataDir.remove);
    const first = await openDatabase(options(dataDir.path));
    let firstClosed = false;
    cleanups.push(async () => firstClosed || (await first.close()));

    const refusal = await openDatabase(options(dataDir.path)).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(EmbeddedDatabaseInUseError);
    expect((refusal as Error).message).toMatch(
      new RegExp(
        `^The embedded database ${join(dataDir.path, 'notes')} is already open in this process: the notes service \\(pid ${process.pid}, since .+\\)\\. Two processes writing one PGlite folder corrupt it`,
      ),
    );
    expect(await embeddedDatabaseOwner(join(dataDir.path, 'notes'))).toMatchObject({ pid: process.pid, holder: 'the notes service' });
    await first.ping();

    await first.close();
    firstClosed = true;
    expect(await embeddedDatabaseOwner(join(dataDir.path, 'notes'))).toBeUndefined();
    await (await open(dataDir.path)).ping();
  });

  it('refuses a service started by hand on a folder another process has open, saying so without a stack trace', async () => {
    const dataDir = await createTempDirectory('embedded-lock');
    cleanups.push(dataDir.remove);
    await mkdir(join(dataDir.path, 'notes'));
    const lock = await lockEmbeddedDatabase(join(dataDir.path, 'notes'), 'the notes service');
    cleanups.push(() => lock.release());
    const code = `
      const kit = await import(${JSON.stringify(new URL('../index.ts', import.meta.url).pathname)});
      await kit.runMain(async () => {
        const database = await kit.openDatabase({
          serviceName: 'notes', url: undefined, embeddedDirectory: ${JSON.stringify(dataDir.path)}, entities: [kit.OutboxEvent], migrations: [],
          metrics: new kit.Metrics('by-hand'), logger: kit.createLogger({ name: 'by-hand', level: 'silent' }),
        });
        return { close: () => database.close() };
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

    expect(await new Promise((resolve) => child.once('close', resolve))).toBe(1);
    expect(output.trim()).toMatch(
      new RegExp(
        `^The embedded database \\S+ is already open in another process: the notes service \\(pid ${process.pid}, since [^)]+\\)\\. [^\\n]+$`,
      ),
    );
  });
});
