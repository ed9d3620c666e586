import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutageProxy } from './outage-proxy.ts';
import { testEnvironment } from './environment.ts';

const { redisUrl } = testEnvironment;

describe.skipIf(!redisUrl)('OutageProxy in front of the real Redis', () => {
  let proxy: OutageProxy;
  let client: Redis;

  beforeAll(async () => {
    proxy = await OutageProxy.start(redisUrl!);
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

  it('fails every command while cut, and serves them again once restored, on the same URL', async () => {
    await proxy.cut();
    await expect(client.ping()).rejects.toThrow();

    await proxy.restore();
    await expect.poll(() => client.ping().catch(() => 'refused'), { timeout: 5000, interval: 20 }).toBe('PONG');
  });
});
