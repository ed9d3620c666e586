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
import { isReadyAs, portsInUse } from '../scripts/readiness.ts';

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
