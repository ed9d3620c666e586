import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from './tcp-proxy.ts';
import { testEnvironment } from './environment.ts';

const { redisUrl } = testEnvironment;

describe.skipIf(!redisUrl)('TcpProxy in front of the real Redis', () => {
  let proxy: TcpProxy;
  let client: Redis;

  beforeAll(async () => {
    proxy = await TcpProxy.start(redisUrl);
    client = new Redis(proxy.urlFor(redisUrl!), { maxRetriesPerRequest: 0, retryStrategy: () => 20, lazyConnect: true });
    await client.connect();
  });

  afterAll(async () => {
    client?.disconnect();
    await proxy?.close();
  });

  it('passes commands through while the dependency is up', async () => {
    expect(proxy.urlFor('redis://127.0.0.1:6379')).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(await client.ping()).toBe('PONG');
  });

  it('fails every command while taken down, and serves them again once brought up, on the same URL', async () => {
    proxy.takeDown();
    await expect(client.ping()).rejects.toThrow();

    proxy.bringUp();
    await expect.poll(() => client.ping().catch(() => 'refused'), { timeout: 5000, interval: 20 }).toBe('PONG');
  });
});
