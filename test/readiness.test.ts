import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHttpServer,
  createLogger,
  Health,
  healthRoutes,
  INSTANCE_HEADER,
  listen,
  Metrics,
  type RunningHttpServer,
} from '@nexusflow/kit/core';
import { spawn } from 'node:child_process';
import { formatBytes, memoryOf } from '../scripts/process-memory.ts';
import { isReadyAs, portsInUse, waitUntilReadyAs } from '../scripts/readiness.ts';

describe('readiness as the launcher sees it', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function serveHealth(health: Health): Promise<RunningHttpServer> {
    const server = createHttpServer({
      routes: [healthRoutes(health, undefined)],
      logger: createLogger({ name: 'readiness-test', level: 'silent' }),
      metrics: new Metrics('readiness_test'),
    });
    const running = await listen(server, 0, '127.0.0.1');
    cleanups.push(() => running.close());
    return running;
  }

  it('counts a ready process only when it answers as the launch that started it', async () => {
    const ours = await serveHealth(new Health('gateway', {}, { instance: 'launch-a' }));
    const another = await serveHealth(new Health('gateway', {}, { instance: 'launch-b' }));
    const unnamed = await serveHealth(new Health('gateway', {}));

    expect(await isReadyAs(ours.url, 'launch-a')).toBe(true);
    expect(await isReadyAs(another.url, 'launch-a')).toBe(false);
    expect(await isReadyAs(unnamed.url, 'launch-a')).toBe(false);
    expect((await fetch(`${ours.url}/health`)).headers.get(INSTANCE_HEADER)).toBe('launch-a');
    expect((await fetch(`${unnamed.url}/health/live`)).headers.has(INSTANCE_HEADER)).toBe(false);
  });

  it('does not count a process of its own launch that is not ready', async () => {
    const draining = new Health('gateway', {}, { instance: 'launch-a' });
    draining.startDraining();
    const running = await serveHealth(draining);

    expect(await isReadyAs(running.url, 'launch-a')).toBe(false);
  });

  it('waits until every process is ready as its launch, gives up past its timeout naming those that are not, and stops when told', async () => {
    const ready = await serveHealth(new Health('auth', {}, { instance: 'launch-a' }));
    const later = new Health('billing', {}, { instance: 'launch-a' });
    later.startDraining();
    const notYet = await serveHealth(later);

    await expect(waitUntilReadyAs([ready.url], 'launch-a', { timeoutMs: 1000, intervalMs: 10 })).resolves.toBeUndefined();
    await expect(waitUntilReadyAs([ready.url, notYet.url], 'launch-a', { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(
      `not ready after 100 ms: ${notYet.url}`,
    );
    const hostFailed = new Error('the host exited before it was ready');
    await expect(
      waitUntilReadyAs([notYet.url], 'launch-a', { timeoutMs: 60_000, intervalMs: 10, abandonedWhen: Promise.reject(hostFailed) }),
    ).rejects.toBe(hostFailed);
  });

  it('counts the memory of each process with the processes it started, and leaves out those that are gone', async () => {
    // A child that holds on to 64 MB of its own, started by this process.
    const child = spawn(process.execPath, ['-e', 'globalThis.kept = Buffer.alloc(64e6, 1); setInterval(() => {}, 1000)']);
    cleanups.push(async () => child.kill());
    await expect.poll(async () => (await memoryOf([{ name: 'child', pid: child.pid }])).total, { timeout: 10_000 }).toBeGreaterThan(64e6);

    const alone = await memoryOf([{ name: 'child', pid: child.pid }]);
    const withChild = await memoryOf([{ name: 'tests', pid: process.pid }]);
    const apart = await memoryOf([
      { name: 'tests', pid: process.pid },
      { name: 'child', pid: child.pid },
      { name: 'gone', pid: undefined },
    ]);

    expect(withChild.total).toBeGreaterThan(alone.total);
    expect(apart.each.map(({ name }) => name)).toEqual(['tests', 'child']);
    expect(apart.each[0]!.bytes).toBeLessThan(withChild.total);
    expect(apart.total).toBe(apart.each[0]!.bytes + apart.each[1]!.bytes);
    expect([formatBytes(318e6), formatBytes(1.4249e9)]).toEqual(['318 MB', '1.42 GB']);
  });

  it('names the ports something already listens on, and only those', async () => {
    const occupant: Server = createServer();
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => occupant.close(resolve)));
    const taken = (occupant.address() as { port: number }).port;
    const spare: Server = createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const free = (spare.address() as { port: number }).port;
    await new Promise((resolve) => spare.close(resolve));

    expect(
      await portsInUse([
        { name: 'auth', port: free },
        { name: 'gateway', port: taken },
      ]),
    ).toEqual([{ name: 'gateway', port: taken }]);
  });
});
