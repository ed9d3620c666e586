import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, it, expect } from 'vitest';
import { Redis } from 'ioredis';
import { InMemoryRateLimiter, RedisRateLimiter, type RateLimiter } from './rate-limit.ts';
import { recordingLogger, testEnvironment } from './testing/index.ts';

describe('InMemoryRateLimiter', () => {
  let clock = 1_000_000;
  const now = () => clock;
  const opened: RateLimiter[] = [];
  const limiter = (limit: number, windowMs?: number) => {
    const created = new InMemoryRateLimiter(windowMs === undefined ? { limit } : { limit, windowMs }, now);
    opened.push(created);
    return created;
  };

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((each) => each.close()));
    clock = 1_000_000;
  });

  it('allows `limit` requests per window, counting the remaining budget down', async () => {
    const limits = limiter(3);

    expect(await limits.consume('user-1')).toEqual({ allowed: true, limit: 3, remaining: 2, resetSeconds: 60 });
    expect(await limits.consume('user-1')).toEqual({ allowed: true, limit: 3, remaining: 1, resetSeconds: 60 });
    expect(await limits.consume('user-1')).toEqual({ allowed: true, limit: 3, remaining: 0, resetSeconds: 60 });
  });

  it('refuses every request over the limit until the window ends', async () => {
    const limits = limiter(2);
    await limits.consume('user-1');
    await limits.consume('user-1');

    expect(await limits.consume('user-1')).toEqual({ allowed: false, limit: 2, remaining: 0, resetSeconds: 60 });
    clock += 59_999;
    expect(await limits.consume('user-1')).toEqual({ allowed: false, limit: 2, remaining: 0, resetSeconds: 1 });
  });

  it('refills the budget when the window ends', async () => {
    const limits = limiter(1, 10_000);
    await limits.consume('user-1');
    expect((await limits.consume('user-1')).allowed).toBe(false);

    clock += 10_000;

    expect(await limits.consume('user-1')).toEqual({ allowed: true, limit: 1, remaining: 0, resetSeconds: 10 });
    expect((await limits.consume('user-1')).allowed).toBe(false);
  });

  it('counts each key on its own', async () => {
    const limits = limiter(1);

    expect((await limits.consume('user-1')).allowed).toBe(true);
    expect((await limits.consume('user-1')).allowed).toBe(false);
    expect((await limits.consume('203.0.113.9')).allowed).toBe(true);
  });

  it('reports the seconds until the window ends, rounded up', async () => {
    const limits = limiter(10, 60_000);
    await limits.consume('user-1');

    clock += 30_500;
    expect((await limits.consume('user-1')).resetSeconds).toBe(30);
    clock += 1;
    expect((await limits.consume('user-1')).resetSeconds).toBe(30);
    clock += 29_000;
    expect((await limits.consume('user-1')).resetSeconds).toBe(1);
  });

  it('starts the window at the first request of a key, not when the limiter was created', async () => {
    const limits = limiter(1, 60_000);
    clock += 45_000;
    await limits.consume('user-1');

    clock += 30_000;

    expect(await limits.consume('user-1')).toEqual({ allowed: false, limit: 1, remaining: 0, resetSeconds: 30 });
  });
});

describe.runIf(testEnvironment.redisUrl)('RedisRateLimiter on the real Redis', () => {
  const redisUrl = testEnvironment.redisUrl!;
  const prefix = `nexusflow-test:ratelimit:${randomBytes(6).toString('hex')}:`;
  let admin: Redis;
  const opened: RedisRateLimiter[] = [];

  async function connectedLimiter(limit: number, windowMs = 60_000) {
    const { logger, warnings } = recordingLogger();
    const limiter = new RedisRateLimiter(redisUrl, { limit, windowMs }, logger, prefix);
    opened.push(limiter);
    return { limiter, warnings };
  }

  const uniqueKey = () => `user-${randomBytes(4).toString('hex')}`;

  beforeAll(() => {
    admin = new Redis(redisUrl);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((limiter) => limiter.close()));
  });

  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('counts the very first request, made before the connection is established', async () => {
    const { limiter, warnings } = await connectedLimiter(1);
    const key = uniqueKey();
    expect((await limiter.consume(key)).allowed).toBe(true);
    expect((await limiter.consume(key)).allowed).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('allows `limit` requests and then answers with a refusal', async () => {
    const { limiter, warnings } = await connectedLimiter(2);
    const key = uniqueKey();

    expect(await limiter.consume(key)).toMatchObject({ allowed: true, limit: 2, remaining: 1 });
    expect(await limiter.consume(key)).toMatchObject({ allowed: true, limit: 2, remaining: 0 });
    const refused = await limiter.consume(key);
    expect(refused).toMatchObject({ allowed: false, limit: 2, remaining: 0 });
    expect(refused.resetSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.resetSeconds).toBeLessThanOrEqual(60);
    expect(warnings).toEqual([]);
  });

  it('draws two limiter instances from one budget per key', async () => {
    const first = await connectedLimiter(3);
    const second = await connectedLimiter(3);
    const key = uniqueKey();

    expect(await first.limiter.consume(key)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await second.limiter.consume(key)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await first.limiter.consume(key)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await second.limiter.consume(key)).toMatchObject({ allowed: false, remaining: 0 });
    expect(await first.limiter.consume(key)).toMatchObject({ allowed: false, remaining: 0 });
    expect(await admin.get(prefix + key)).toBe('5');
  });

  it('counts each key on its own', async () => {
    const { limiter } = await connectedLimiter(1);
    const key = uniqueKey();
    const otherKey = uniqueKey();

    expect((await limiter.consume(key)).allowed).toBe(true);
    expect((await limiter.consume(key)).allowed).toBe(false);
    expect((await limiter.consume(otherKey)).allowed).toBe(true);
  });

  it('stores the count under its prefix and lets it expire with the window', async () => {
    const { limiter } = await connectedLimiter(5, 30_000);
    const key = uniqueKey();

    const decision = await limiter.consume(key);

    const ttl = await admin.pttl(prefix + key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
    expect(decision.resetSeconds).toBeLessThanOrEqual(30);
  });

  it('gives a counter that lost its expiry a fresh window instead of blocking the key forever', async () => {
    const { limiter } = await connectedLimiter(5, 30_000);
    const key = uniqueKey();
    await admin.set(prefix + key, '7');

    const decision = await limiter.consume(key);

    expect(decision).toEqual({ allowed: false, limit: 5, remaining: 0, resetSeconds: 30 });
    const ttl = await admin.pttl(prefix + key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('answers ping while connected', async () => {
    const { limiter } = await connectedLimiter(1);

    await expect(limiter.ping()).resolves.toBeUndefined();
  });

  it('fails open, with a warning, when Redis cannot be reached', async () => {
    const { logger, warnings, warned } = recordingLogger();
    const limiter = new RedisRateLimiter('redis://127.0.0.1:1', { limit: 1, windowMs: 45_000 }, logger, prefix);
    opened.push(limiter);
    // The connection attempt has been refused before the requests arrive.
    await warned('rate limiter redis error');

    const first = await limiter.consume(uniqueKey());
    const second = await limiter.consume(uniqueKey());

    expect(first).toEqual({ allowed: true, limit: 1, remaining: 1, resetSeconds: 45 });
    expect(second).toEqual({ allowed: true, limit: 1, remaining: 1, resetSeconds: 45 });
    expect(warnings.filter((warning) => warning.message === 'rate limiter unavailable; allowing request')).toHaveLength(2);
    await expect(limiter.ping()).rejects.toThrow();
  });
});
