import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the current window ends and the budget is refilled. */
  resetSeconds: number;
}

/** A fixed-window request budget per key (a user, or an address for anonymous callers). */
export interface RateLimiter {
  consume(key: string): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

export interface RateLimitOptions {
  /** Requests allowed per window and key. */
  limit: number;
  /** @default 60000 */
  windowMs?: number;
}

function decision(limit: number, count: number, remainingMs: number): RateLimitDecision {
  return { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), resetSeconds: Math.max(1, Math.ceil(remainingMs / 1000)) };
}

export class InMemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();
  private readonly windowMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.sweeper = setInterval(() => this.sweep(), this.windowMs);
    this.sweeper.unref();
  }

  async consume(key: string): Promise<RateLimitDecision> {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { count: 0, endsAt: now + this.windowMs };
      this.windows.set(key, window);
    }
    window.count += 1;
    return decision(this.options.limit, window.count, window.endsAt - now);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}

/** Atomic increment-and-expire, so that every gateway instance draws from one budget per key. */
const CONSUME_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
`;

export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly windowMs: number;

  constructor(
    url: string,
    private readonly options: RateLimitOptions,
    private readonly logger: Logger,
    private readonly prefix = 'nexusflow:ratelimit:',
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    // Commands wait for the connection (so the first requests are counted too), but never longer than
    // the timeout: a Redis outage costs each request at most that, then the limiter fails open.
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 250, connectionName: 'nexusflow-ratelimit' });
    this.redis.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'rate limiter redis error'));
  }

  /**
   * Fails open: when Redis cannot answer, the request is allowed and a warning logged, because an
   * outage of the limiter must not become an outage of the API.
   */
  async consume(key: string): Promise<RateLimitDecision> {
    try {
      const [count, ttl] = (await this.redis.eval(CONSUME_SCRIPT, 1, this.prefix + key, this.windowMs)) as [number, number];
      return decision(this.options.limit, count, ttl);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'rate limiter unavailable; allowing request');
      return { allowed: true, limit: this.options.limit, remaining: this.options.limit, resetSeconds: Math.ceil(this.windowMs / 1000) };
    }
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
