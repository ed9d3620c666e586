import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { RestartBackoff, SupervisedProcess, type RestartPolicy } from '../scripts/supervision.ts';

const POLICY: RestartPolicy = { baseDelayMs: 10, maxDelayMs: 40, resetAfterMs: 60_000 };

describe('RestartBackoff', () => {
  it('waits the base delay before the first restart, then twice as long for each restart in a row, up to the maximum', () => {
    const backoff = new RestartBackoff({ baseDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000 });

    expect(Array.from({ length: 7 }, () => backoff.next(500))).toEqual([
      { attempt: 1, delayMs: 1000 },
      { attempt: 2, delayMs: 2000 },
      { attempt: 3, delayMs: 4000 },
      { attempt: 4, delayMs: 8000 },
      { attempt: 5, delayMs: 16_000 },
      { attempt: 6, delayMs: 30_000 },
      { attempt: 7, delayMs: 30_000 },
    ]);
  });

  it('starts again from the base delay, as attempt 1, once the process stayed up long enough', () => {
    const backoff = new RestartBackoff({ baseDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000 });
    backoff.next(500);
    backoff.next(59_999);

    expect(backoff.next(60_000)).toEqual({ attempt: 1, delayMs: 1000 });
    expect(backoff.next(10)).toEqual({ attempt: 2, delayMs: 2000 });
  });
});

describe('a supervised process', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A real Node process that announces itself ready by creating a file named after its pid, then idles. */
  async function superviseIdler(options: { exitCode?: number; now?: () => number; prefixWidth?: number; beforeReady?: string } = {}) {
    const readyDirectory = await createTempDirectory('supervision');
    cleanups.push(readyDirectory.remove);
    const script =
      options.exitCode === undefined
        ? `${options.beforeReady ?? ''} require('node:fs').writeFileSync(require('node:path').join(process.env.READY_DIRECTORY, String(process.pid)), ''); setInterval(() => {}, 60_000);`
        : `process.exit(${options.exitCode});`;
    const messages: string[] = [];
    const lines: string[] = [];
    const supervised: SupervisedProcess = new SupervisedProcess({
      name: 'idler',
      args: ['-e', script],
      cwd: readyDirectory.path,
      env: { ...process.env, READY_DIRECTORY: readyDirectory.path },
      isReady: async () => supervised.pid !== undefined && existsSync(join(readyDirectory.path, String(supervised.pid))),
      readyTimeoutMs: 20_000,
      readyPollIntervalMs: 10,
      restart: POLICY,
      log: (message) => messages.push(message),
      output: (line) => lines.push(line),
      now: options.now,
      prefixWidth: options.prefixWidth,
    });
    cleanups.push(() => supervised.stop());
    return { supervised, messages, lines };
  }

  const killAndAwaitRestart = async (supervised: SupervisedProcess, messages: string[], attempt: number) => {
    const pid = supervised.pid!;
    process.kill(pid, 'SIGKILL');
    await expect
      .poll(() => messages.at(-1), { timeout: 20_000, interval: 10 })
      .toBe(`idler is ready again after restart attempt ${attempt}`);
    return pid;
  };

  it('restarts a process killed after it became ready, says why and which attempt it is, and waits for it to be ready again', async () => {
    const { supervised, messages } = await superviseIdler();
    await supervised.start();
    const first = supervised.pid!;

    await killAndAwaitRestart(supervised, messages, 1);

    const second = supervised.pid!;
    expect(second).not.toBe(first);
    expect(() => process.kill(second, 0)).not.toThrow();
    expect(messages).toEqual([
      `idler started (pid ${first})`,
      'idler exited (SIGKILL); restarting in 10 ms, attempt 1',
      `idler started (pid ${second})`,
      'idler is ready again after restart attempt 1',
    ]);
  });

  it('doubles the wait while the process keeps dying, and starts over once it stayed up for the reset time', async () => {
    let clock = 0;
    const { supervised, messages } = await superviseIdler({ now: () => clock });
    await supervised.start();

    await killAndAwaitRestart(supervised, messages, 1);
    await killAndAwaitRestart(supervised, messages, 2);
    await killAndAwaitRestart(supervised, messages, 3);
    await killAndAwaitRestart(supervised, messages, 4);
    clock += POLICY.resetAfterMs;
    await killAndAwaitRestart(supervised, messages, 1);

    expect(messages.filter((message) => message.includes('restarting'))).toEqual([
      'idler exited (SIGKILL); restarting in 10 ms, attempt 1',
      'idler exited (SIGKILL); restarting in 20 ms, attempt 2',
      'idler exited (SIGKILL); restarting in 40 ms, attempt 3',
      'idler exited (SIGKILL); restarting in 40 ms, attempt 4',
      'idler exited (SIGKILL); restarting in 10 ms, attempt 1',
    ]);
  });

  it('fails to start, and restarts nothing, when the process exits before it was ever ready', async () => {
    const { supervised, messages } = await superviseIdler({ exitCode: 3 });

    await expect(supervised.start()).rejects.toThrow('idler exited (code 3) before it was ready');
    expect(messages).toEqual([expect.stringMatching(/^idler started \(pid \d+\)$/)]);
  });

  it('prefixes every line the process prints with its name, padded to the width given, down to what it prints while stopping', async () => {
    const { supervised, lines } = await superviseIdler({
      prefixWidth: 13,
      beforeReady: `console.log('listening'); console.error('a warning'); process.on('SIGTERM', () => { console.log('stopped'); process.exit(0); });`,
    });
    await supervised.start();

    await supervised.stop();

    expect(lines.toSorted()).toEqual(['idler         | a warning', 'idler         | listening', 'idler         | stopped']);
    // Each stream keeps its order; stderr's line may come before or after stdout's, as two pipes deliver them.
    expect(lines.filter((line) => !line.endsWith('a warning'))).toEqual(['idler         | listening', 'idler         | stopped']);
  });

  it('runs the process in a process group of its own, which a terminal’s Ctrl-C to the supervisor’s group does not reach', async () => {
    const { supervised } = await superviseIdler();
    await supervised.start();
    const pid = supervised.pid!;

    const processGroupOf = (id: number) => Number(readFileSync(`/proc/${id}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);

    expect(processGroupOf(pid)).toBe(pid);
    expect(processGroupOf(pid)).not.toBe(processGroupOf(process.pid));
  });

  it('stops the process on request without restarting it', async () => {
    const { supervised, messages } = await superviseIdler();
    await supervised.start();
    const pid = supervised.pid!;

    await supervised.stop();

    expect(() => process.kill(pid, 0)).toThrow();
    expect(messages).toEqual([`idler started (pid ${pid})`]);
  });
});
