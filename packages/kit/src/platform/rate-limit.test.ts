import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, it, expect } from 'vitest';
import { Redis } from 'ioredis';
import { InMemoryRateLimiter, RedisRateLimiter, type RateLimitDecision, type RateLimitRule } from './rate-limit.ts';
import { recordingLogger, testEnvironment } from '../testing/index.ts';

async function consumeTimes(
  limiter: { consume(rules: readonly RateLimitRule[]): Promise<RateLimitDecision> },
  rules: RateLimitRule[],
  times: number,
) {
  const decisions: RateLimitDecision[] = [];
  for (let request = 0; request < times; request += 1) decisions.push(await limiter.consume(rules));
  return decisions;
}

const allowedCount = (decisions: RateLimitDecision[]) => decisions.filter((decision) => decision.allowed).length;

describe('InMemoryRateLimiter', () => {
  let clock = 1_000_000;
  const opened: InMemoryRateLimiter[] = [];
  const limiter = (sweepIntervalMs?: number) => {
    const created = new InMemoryRateLimiter(sweepIntervalMs === undefined ? { now: () => clock } : { now: () => clock, sweepIntervalMs });
    opened.push(created);
    return created;
  };

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((each) => each.close()));
    clock = 1_000_000;
  });

  it('allows a full period’s budget at once by default, counting the remaining budget down', async () => {
    const limits = limiter();
    const user = { key: 'user:1', limit: 3 };

    expect(await limits.consume([user])).toEqual({
      allowed: true,
      key: 'user:1',
      limit: 3,
      remaining: 2,
      retryAfterSeconds: 0,
      resetSeconds: 20,
    });
    expect(await limits.consume([user])).toEqual({
      allowed: true,
      key: 'user:1',
      limit: 3,
      remaining: 1,
      retryAfterSeconds: 0,
      resetSeconds: 40,
    });
    expect(await limits.consume([user])).toEqual({
      allowed: true,
      key: 'user:1',
      limit: 3,
      remaining: 0,
      retryAfterSeconds: 0,
      resetSeconds: 60,
    });
    expect(await limits.consume([user])).toEqual({
      allowed: false,
      key: 'user:1',
      limit: 3,
      remaining: 0,
      retryAfterSeconds: 20,
      resetSeconds: 60,
    });
  });

  it('refills only the elapsed share of the period after a boundary, never a second full budget', async () => {
    const limits = limiter();
    const user = { key: 'user:1', limit: 60, periodMs: 60_000 };
    clock = 59_000;
    expect(allowedCount(await consumeTimes(limits, [user], 60))).toBe(60);

    clock = 61_000;

    expect(allowedCount(await consumeTimes(limits, [user], 60))).toBe(2);
    clock = 89_000;
    expect(allowedCount(await consumeTimes(limits, [user], 60))).toBe(28);
  });

  it('never lets more than the burst plus the elapsed share of the period through, however the requests are timed', async () => {
    const limits = limiter();
    const user = { key: 'user:1', limit: 100, periodMs: 10_000, burst: 20 };
    const start = clock;
    let allowed = 0;

    for (let step = 0; step < 5_000; step += 1) {
      clock = start + step * 7;
      allowed += allowedCount(await consumeTimes(limits, [user], 2));
    }

    const elapsedMs = clock - start;
    expect(allowed).toBeLessThanOrEqual(20 + Math.floor((elapsedMs * 100) / 10_000));
    expect(allowed).toBeGreaterThanOrEqual(Math.floor((elapsedMs * 100) / 10_000));
  });

  it('allows requests at exactly limit per period indefinitely, even without a burst', async () => {
    const limits = limiter();
    const everyTenth = { key: 'user:1', limit: 10, periodMs: 1_000, burst: 1 };
    const start = clock;

    const decisions: RateLimitDecision[] = [];
    for (let request = 0; request < 10_000; request += 1) {
      clock = start + request * 100;
      decisions.push(await limits.consume([everyTenth]));
    }
    clock += 99;
    const early = await limits.consume([everyTenth]);

    expect(allowedCount(decisions)).toBe(10_000);
    expect(early).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
  });

  it('allows a steady rate that does not divide the period into whole milliseconds, with a burst of two to absorb the rounding', async () => {
    const limits = limiter();
    const sevenPerSecond = { key: 'user:1', limit: 7, periodMs: 1_000, burst: 2 };
    const start = clock;

    const decisions: RateLimitDecision[] = [];
    for (let request = 0; request < 7_000; request += 1) {
      clock = start + Math.ceil((request * 1_000) / 7);
      decisions.push(await limits.consume([sevenPerSecond]));
    }

    expect(allowedCount(decisions)).toBe(7_000);
  });

  it('keeps allowing the steady rate after the burst is spent', async () => {
    const limits = limiter();
    const user = { key: 'user:1', limit: 60 };
    expect(allowedCount(await consumeTimes(limits, [user], 60))).toBe(60);

    let allowed = 0;
    for (let second = 1; second <= 3_600; second += 1) {
      clock += 1_000;
      allowed += allowedCount(await consumeTimes(limits, [user], 2));
    }

    expect(allowed).toBe(3_600);
  });

  it('counts a request against every rule, and one refused by the tenant rule uses none of the user rule', async () => {
    const limits = limiter();
    const user = { key: 'user:ada', limit: 100 };
    const tenant = { key: 'tenant:acme', limit: 2 };
    await consumeTimes(limits, [user, tenant], 2);

    const refused = await limits.consume([user, tenant]);
    await consumeTimes(limits, [user, tenant], 5);

    expect(refused).toMatchObject({ allowed: false, key: 'tenant:acme', limit: 2, remaining: 0 });
    expect(await limits.consume([user])).toMatchObject({ allowed: true, key: 'user:ada', remaining: 97 });
  });

  it('leaves the tenant budget untouched when the user rule refuses', async () => {
    const limits = limiter();
    const ada = { key: 'user:ada', limit: 1 };
    const grace = { key: 'user:grace', limit: 10 };
    const tenant = { key: 'tenant:acme', limit: 3 };
    await limits.consume([ada, tenant]);

    expect(await limits.consume([ada, tenant])).toMatchObject({ allowed: false, key: 'user:ada' });
    expect(await limits.consume([grace, tenant])).toMatchObject({ allowed: true, key: 'tenant:acme', remaining: 1 });
  });

  it('names the rule with the least room left when the request is allowed', async () => {
    const limits = limiter();
    const user = { key: 'user:ada', limit: 10 };
    const address = { key: 'address:203.0.113.9', limit: 4 };
    const tenant = { key: 'tenant:acme', limit: 1_000 };

    expect(await limits.consume([tenant, user, address])).toEqual({
      allowed: true,
      key: 'address:203.0.113.9',
      limit: 4,
      remaining: 3,
      retryAfterSeconds: 0,
      resetSeconds: 15,
    });
  });

  it('tells a refused client how long to wait, rounded up to whole seconds', async () => {
    const limits = limiter();
    const user = { key: 'user:1', limit: 6, periodMs: 60_000 };
    await consumeTimes(limits, [user], 6);

    expect((await limits.consume([user])).retryAfterSeconds).toBe(10);
    clock += 4_000;
    expect((await limits.consume([user])).retryAfterSeconds).toBe(6);
    clock += 5_500;
    expect((await limits.consume([user])).retryAfterSeconds).toBe(1);
    clock += 499;
    expect((await limits.consume([user])).retryAfterSeconds).toBe(1);
    clock += 1;
    expect(await limits.consume([user])).toMatchObject({ allowed: true, retryAfterSeconds: 0, remaining: 0 });
  });

  it('when several rules refuse, names the one with the longest wait, so that retrying then succeeds', async () => {
    const limits = limiter();
    const user = { key: 'user:ada', limit: 1, periodMs: 10_000 };
    const tenant = { key: 'tenant:acme', limit: 1, periodMs: 30_000 };
    await limits.consume([user, tenant]);

    const refused = await limits.consume([user, tenant]);
    clock += refused.retryAfterSeconds * 1_000;

    expect(refused).toEqual({ allowed: false, key: 'tenant:acme', limit: 1, remaining: 0, retryAfterSeconds: 30, resetSeconds: 30 });
    expect((await limits.consume([user, tenant])).allowed).toBe(true);
  });

  it('reports the seconds until the budget is full again', async () => {
    const limits = limiter();
    const user = { key: 'user:1', limit: 10, periodMs: 60_000 };
    await consumeTimes(limits, [user], 5);

    clock += 10_000;

    expect(await limits.consume([user])).toMatchObject({ allowed: true, remaining: 5, resetSeconds: 26 });
  });

  it('counts each key on its own', async () => {
    const limits = limiter();

    expect((await limits.consume([{ key: 'user:1', limit: 1 }])).allowed).toBe(true);
    expect((await limits.consume([{ key: 'user:1', limit: 1 }])).allowed).toBe(false);
    expect((await limits.consume([{ key: 'address:203.0.113.9', limit: 1 }])).allowed).toBe(true);
  });

  it('forgets keys whose budget is full again, and keeps those still owing', async () => {
    const limits = limiter(1_000);
    for (let address = 0; address < 1_000; address += 1) await limits.consume([{ key: `address:${address}`, limit: 10, periodMs: 1_000 }]);
    await consumeTimes(limits, [{ key: 'user:heavy', limit: 10, periodMs: 60_000 }], 10);
    expect(limits.size).toBe(1_001);

    clock += 1_000;
    await limits.consume([{ key: 'address:new', limit: 10, periodMs: 1_000 }]);

    expect(limits.size).toBe(2);
    expect((await limits.consume([{ key: 'user:heavy', limit: 10, periodMs: 60_000 }])).allowed).toBe(false);
  });

  it('holds no more keys than were active within one sweep interval, however long it runs', async () => {
    const limits = limiter(1_000);
    let largest = 0;

    for (let second = 0; second < 600; second += 1) {
      for (let address = 0; address < 50; address += 1)
        await limits.consume([{ key: `address:${second}-${address}`, limit: 10, periodMs: 1_000 }]);
      largest = Math.max(largest, limits.size);
      clock += 1_000;
    }

    expect(largest).toBeLessThanOrEqual(100);
  });

  it('does not let a clock that stepped back block a key for longer than one full refill', async () => {
    const limits = limiter();
    const user = { key: 'user:1', limit: 2, periodMs: 10_000 };
    await consumeTimes(limits, [user], 2);

    clock -= 3_600_000;

    expect(await limits.consume([user])).toMatchObject({ allowed: false, retryAfterSeconds: 5, resetSeconds: 10 });
    clock += 5_000;
    expect((await limits.consume([user])).allowed).toBe(true);
  });

  it('refuses rules that could not be counted', async () => {
    const limits = limiter();

    await expect(limits.consume([])).rejects.toThrow(RangeError);
    await expect(limits.consume([{ key: 'user:1', limit: 0 }])).rejects.toThrow(/limit of user:1/);
    await expect(limits.consume([{ key: 'user:1', limit: 5, burst: 0 }])).rejects.toThrow(/burst of user:1/);
    await expect(limits.consume([{ key: 'user:1', limit: 5, periodMs: 0 }])).rejects.toThrow(/period of user:1/);
    await expect(
      limits.consume([
        { key: 'user:1', limit: 5 },
        { key: 'user:1', limit: 9 },
      ]),
    ).rejects.toThrow(/appears twice/);
  });
});

describe.runIf(testEnvironment.redisUrl)('RedisRateLimiter on the real Redis', () => {
  const redisUrl = testEnvironment.redisUrl!;
  const prefix = `nexusflow-test:ratelimit:${randomBytes(6).toString('hex')}:`;
  const HOUR_MS = 3_600_000;
  let admin: Redis;
  const opened: RedisRateLimiter[] = [];

  function connectedLimiter() {
    const { logger, warnings } = recordingLogger();
    const limiter = new RedisRateLimiter(redisUrl, logger, { prefix });
    opened.push(limiter);
    return { limiter, warnings };
  }

  const uniqueKey = (kind = 'user') => `${kind}:${randomBytes(4).toString('hex')}`;

  async function redisMicroseconds(): Promise<number> {
    const [seconds, microseconds] = await admin.time();
    return Number(seconds) * 1_000_000 + Number(microseconds);
  }

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
    const { limiter, warnings } = connectedLimiter();
    const user = { key: uniqueKey(), limit: 1, periodMs: HOUR_MS };

    expect((await limiter.consume([user])).allowed).toBe(true);
    expect((await limiter.consume([user])).allowed).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('allows the burst, then refuses and tells how long to wait', async () => {
    const { limiter, warnings } = connectedLimiter();
    const user = { key: uniqueKey(), limit: 2, periodMs: HOUR_MS };

    expect(await limiter.consume([user])).toMatchObject({ allowed: true, key: user.key, limit: 2, remaining: 1, retryAfterSeconds: 0 });
    expect(await limiter.consume([user])).toMatchObject({ allowed: true, key: user.key, limit: 2, remaining: 0, retryAfterSeconds: 0 });
    const refused = await limiter.consume([user]);

    expect(refused).toMatchObject({ allowed: false, key: user.key, limit: 2, remaining: 0 });
    // Half an hour per request: whatever the few milliseconds between the requests, the wait rounds to it.
    expect(refused.retryAfterSeconds).toBeGreaterThan(1_790);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(1_800);
    expect(refused.resetSeconds).toBeGreaterThan(3_590);
    expect(refused.resetSeconds).toBeLessThanOrEqual(3_600);
    expect(warnings).toEqual([]);
  });

  it('does not hand out a second budget within the period', async () => {
    const { limiter } = connectedLimiter();
    const user = { key: uniqueKey(), limit: 50, periodMs: HOUR_MS };

    expect(allowedCount(await consumeTimes(limiter, [user], 100))).toBe(50);
  });

  it('counts a request against every rule, and one refused by the tenant rule uses none of the user rule', async () => {
    const { limiter } = connectedLimiter();
    const user = { key: uniqueKey('user'), limit: 100, periodMs: HOUR_MS };
    const tenant = { key: uniqueKey('tenant'), limit: 1, periodMs: HOUR_MS };
    await limiter.consume([user, tenant]);
    const userBucket = await admin.get(prefix + user.key);

    const refused = await limiter.consume([user, tenant]);

    expect(refused).toMatchObject({ allowed: false, key: tenant.key, limit: 1, remaining: 0 });
    expect(await admin.get(prefix + user.key)).toBe(userBucket);
    expect(await limiter.consume([user])).toMatchObject({ allowed: true, key: user.key, remaining: 98 });
  });

  it('names the refusing rule among several', async () => {
    const { limiter } = connectedLimiter();
    const user = { key: uniqueKey('user'), limit: 1, periodMs: HOUR_MS };
    const address = { key: uniqueKey('address'), limit: 1_000, periodMs: HOUR_MS };
    await limiter.consume([address, user]);

    expect(await limiter.consume([address, user])).toMatchObject({ allowed: false, key: user.key });
  });

  it('draws two limiter instances from one budget per key', async () => {
    const first = connectedLimiter();
    const second = connectedLimiter();
    const user = { key: uniqueKey(), limit: 3, periodMs: HOUR_MS };

    expect(await first.limiter.consume([user])).toMatchObject({ allowed: true, remaining: 2 });
    expect(await second.limiter.consume([user])).toMatchObject({ allowed: true, remaining: 1 });
    expect(await first.limiter.consume([user])).toMatchObject({ allowed: true, remaining: 0 });
    expect(await second.limiter.consume([user])).toMatchObject({ allowed: false, remaining: 0 });
    expect(await first.limiter.consume([user])).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('counts each key on its own', async () => {
    const { limiter } = connectedLimiter();
    const key = uniqueKey();
    const otherKey = uniqueKey();

    expect((await limiter.consume([{ key, limit: 1, periodMs: HOUR_MS }])).allowed).toBe(true);
    expect((await limiter.consume([{ key, limit: 1, periodMs: HOUR_MS }])).allowed).toBe(false);
    expect((await limiter.consume([{ key: otherKey, limit: 1, periodMs: HOUR_MS }])).allowed).toBe(true);
  });

  it('stores the theoretical arrival time by the Redis clock, expiring when the budget is full again', async () => {
    const { limiter } = connectedLimiter();
    const user = { key: uniqueKey(), limit: 4, periodMs: HOUR_MS };
    const before = await redisMicroseconds();

    await consumeTimes(limiter, [user], 2);

    const arrival = Number(await admin.get(prefix + user.key));
    const ttl = await admin.pttl(prefix + user.key);
    const after = await redisMicroseconds();
    const twoRequestsUs = 2 * 900_000_000;
    expect(arrival).toBeGreaterThanOrEqual(before + twoRequestsUs);
    expect(arrival).toBeLessThanOrEqual(after + twoRequestsUs);
    expect(ttl).toBeGreaterThan(twoRequestsUs / 1_000 - (after - before) / 1_000 - 1);
    expect(ttl).toBeLessThanOrEqual(twoRequestsUs / 1_000);
  });

  it('writes nothing for a refused request', async () => {
    const { limiter } = connectedLimiter();
    const user = { key: uniqueKey(), limit: 1, periodMs: HOUR_MS };
    await limiter.consume([user]);
    const bucket = await admin.get(prefix + user.key);

    await consumeTimes(limiter, [user], 3);

    expect(await admin.get(prefix + user.key)).toBe(bucket);
  });

  it('blocks a key whose bucket lost its expiry and lies far ahead for at most one full refill', async () => {
    const { limiter } = connectedLimiter();
    const user = { key: uniqueKey(), limit: 5, periodMs: 30_000 };
    const aYearAhead = (await redisMicroseconds()) + 365 * 24 * 3_600 * 1_000_000;
    await admin.set(prefix + user.key, String(aYearAhead));

    const decision = await limiter.consume([user]);

    expect(decision).toMatchObject({ allowed: false, remaining: 0 });
    expect(decision.retryAfterSeconds).toBeLessThanOrEqual(6);
    expect(decision.resetSeconds).toBeLessThanOrEqual(30);
    const ttl = await admin.pttl(prefix + user.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('loads its script again when Redis has forgotten it', async () => {
    const { limiter, warnings } = connectedLimiter();
    const user = { key: uniqueKey(), limit: 2, periodMs: HOUR_MS };
    await limiter.consume([user]);

    await admin.script('FLUSH');

    expect(await limiter.consume([user])).toMatchObject({ allowed: true, remaining: 0 });
    expect((await limiter.consume([user])).allowed).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('answers ping while connected', async () => {
    const { limiter } = connectedLimiter();

    await expect(limiter.ping()).resolves.toBeUndefined();
  });

  it('fails open, with a warning, when Redis cannot be reached', async () => {
    const { logger, warnings, warned } = recordingLogger();
    const limiter = new RedisRateLimiter('redis://127.0.0.1:1', logger, { prefix });
    opened.push(limiter);
    // The connection attempt has been refused before the requests arrive.
    await warned('rate limiter redis error');
    const user = { key: uniqueKey('user'), limit: 10 };
    const tenant = { key: uniqueKey('tenant'), limit: 100, burst: 5 };

    const first = await limiter.consume([user, tenant]);
    const second = await limiter.consume([user, tenant]);

    expect(first).toEqual({ allowed: true, key: tenant.key, limit: 100, remaining: 5, retryAfterSeconds: 0, resetSeconds: 0 });
    expect(second).toEqual(first);
    expect(warnings.filter((warning) => warning.message === 'rate limiter unavailable; allowing request')).toHaveLength(2);
    await expect(limiter.ping()).rejects.toThrow();
  });

  it('refuses rules that could not be counted rather than failing open on them', async () => {
    const { limiter } = connectedLimiter();

    await expect(limiter.consume([{ key: uniqueKey(), limit: 0 }])).rejects.toThrow(RangeError);
  });
});
