import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireProcessLock, liveLockOwner, LockHeldError, type LockOwner, type ProcessLock } from './process-lock.ts';
import { createDeferred, createTempDirectory } from '../testing/index.ts';

const linuxTellsProcessStarts = existsSync('/proc/self/stat') && existsSync('/proc/sys/kernel/random/boot_id');

/** A separate Node process that takes the lock, says so, and holds it until it is killed. */
function holdInAnotherProcess(file: string) {
  const code = `
    const { acquireProcessLock } = await import(${JSON.stringify(new URL('./process-lock.ts', import.meta.url).pathname)});
    await acquireProcessLock(${JSON.stringify(file)}, { holder: 'the holder in another process', details: { gatewayPort: 8123 } });
    console.log('holding');
    setInterval(() => {}, 60_000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const holding = createDeferred<void>();
  const exited = createDeferred<void>();
  child.stdout.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('holding')) holding.resolve();
  });
  child.once('exit', () => {
    holding.reject(new Error('the holder exited before it held the lock'));
    exited.resolve();
  });
  return { pid: child.pid!, holding: holding.promise, kill: async () => (child.kill('SIGKILL'), await exited.promise) };
}

async function exitedProcessPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

const record = (overrides: Partial<LockOwner>): LockOwner => ({
  pid: process.pid,
  hostname: hostname(),
  token: 'an earlier lock',
  acquiredAt: '2025-01-01T00:00:00.000Z',
  holder: 'an earlier holder',
  details: {},
  ...overrides,
});

describe('a process lock', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function lockFile(): Promise<string> {
    const directory = await createTempDirectory('process-lock');
    cleanups.push(directory.remove);
    return join(directory.path, 'service.lock');
  }

  async function acquire(file: string, holder = 'this test'): Promise<ProcessLock> {
    const lock = await acquireProcessLock(file, { holder });
    cleanups.push(() => lock.release());
    return lock;
  }

  it('is refused while another running process holds it, naming that process, what it is and what it recorded', async () => {
    const file = await lockFile();
    const holder = holdInAnotherProcess(file);
    cleanups.push(holder.kill);
    await holder.holding;

    const refusal = await acquireProcessLock(file, { holder: 'a second process' }).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(LockHeldError);
    const { owner, message } = refusal as LockHeldError;
    expect(owner).toMatchObject({ pid: holder.pid, holder: 'the holder in another process', details: { gatewayPort: 8123 } });
    expect(message).toContain(`is held by the holder in another process (pid ${holder.pid}, since `);
    expect(await liveLockOwner(file)).toMatchObject({ pid: holder.pid });
  });

  it('is taken over at once from a process that was killed while holding it', async () => {
    const file = await lockFile();
    const holder = holdInAnotherProcess(file);
    await holder.holding;
    await holder.kill();

    expect(await liveLockOwner(file)).toBeUndefined();
    const lock = await acquire(file);

    expect(lock.owner.pid).toBe(process.pid);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid, token: lock.owner.token, holder: 'this test' });
  });

  it('is refused to a second taker in the same process as well', async () => {
    const file = await lockFile();
    await acquire(file, 'the first taker');

    await expect(acquireProcessLock(file, { holder: 'the second taker' })).rejects.toThrow(
      `is held by the first taker (pid ${process.pid}`,
    );
  });

  it('is taken over when its process no longer runs, or the file is not a lock record at all', async () => {
    const file = await lockFile();
    await writeFile(file, JSON.stringify(record({ pid: await exitedProcessPid() })));
    expect(await liveLockOwner(file)).toBeUndefined();
    const lock = await acquire(file);
    await lock.release();

    await writeFile(file, '{"pid": 12');
    expect((await acquire(file)).owner.pid).toBe(process.pid);
  });

  it.runIf(linuxTellsProcessStarts)(
    'is taken over when its pid now belongs to a later process, or was recorded before a reboot',
    async () => {
      const file = await lockFile();
      const lock = await acquire(file);
      await lock.release();
      const alive = { ...lock.owner, token: 'an earlier lock' };

      await writeFile(file, JSON.stringify({ ...alive, processStart: '1' }));
      expect(await liveLockOwner(file), 'same pid, another start').toBeUndefined();
      await writeFile(file, JSON.stringify({ ...alive, bootId: 'a boot before this one' }));
      expect(await liveLockOwner(file), 'same pid, another boot').toBeUndefined();
      await writeFile(file, JSON.stringify(alive));
      expect(await liveLockOwner(file), 'same pid, same start, same boot').toMatchObject({ pid: process.pid });
    },
  );

  it('goes to exactly one of two processes that find the same stale lock at once', async () => {
    const file = await lockFile();
    await writeFile(file, JSON.stringify(record({ pid: await exitedProcessPid() })));

    const outcomes = await Promise.allSettled([
      acquireProcessLock(file, { holder: 'first' }),
      acquireProcessLock(file, { holder: 'second' }),
    ]);

    const taken = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    for (const lock of taken) cleanups.push(() => lock.release());
    expect(taken).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(LockHeldError);
    expect(JSON.parse(await readFile(file, 'utf8')).token).toBe(taken[0]!.owner.token);
  });

  it('is removed on release, and a release never removes a lock that is no longer its own', async () => {
    const file = await lockFile();
    const lock = await acquire(file);
    await lock.release();
    expect(existsSync(file)).toBe(false);

    const second = await acquire(file);
    await lock.release();
    expect(JSON.parse(await readFile(file, 'utf8')).token).toBe(second.owner.token);
  });

  it('is released when its process exits without releasing it', async () => {
    const file = await lockFile();
    const code = `
      const { acquireProcessLock } = await import(${JSON.stringify(new URL('./process-lock.ts', import.meta.url).pathname)});
      await acquireProcessLock(${JSON.stringify(file)}, { holder: 'a process that exits' });
      process.exit(3);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: 'inherit' });

    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(3);
    expect(existsSync(file)).toBe(false);
  });
});
