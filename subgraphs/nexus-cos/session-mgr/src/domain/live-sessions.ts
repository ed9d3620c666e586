import { Redis } from 'ioredis';
import type { Logger } from '@nexusflow/kit';

/**
 * Where live sessions and their refresh tokens are kept: keys that expire on their own. Redis when REDIS_URL is set,
 * so that every session-mgr instance shares them; this process's memory otherwise (the embedded default).
 */
export interface ExpiringStore {
  put(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | null>;
  /** Reads and deletes in one step: of two callers taking a key at once, only one gets it. */
  take(key: string): Promise<string | null>;
  /**
   * Takes `key` and leaves its value at `to` with the same expiry, in one step: of two callers moving a key at once,
   * only one gets its value, and the other finds it at `to` already.
   */
  move(key: string, to: string): Promise<string | null>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** One process's memory; entries expire by the service's clock, so tests that move it see timeouts. */
export class InProcessExpiringStore implements ExpiringStore {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(private readonly now: () => number) {}

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    this.sweep();
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async get(key: string): Promise<string | null> {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry.value;
  }

  async take(key: string): Promise<string | null> {
    const value = await this.get(key);
    this.entries.delete(key);
    return value;
  }

  async move(key: string, to: string): Promise<string | null> {
    const value = await this.get(key);
    const entry = this.entries.get(key);
    this.entries.delete(key);
    if (entry) this.entries.set(to, entry);
    return value;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

/** Moves a key with its remaining expiry; one script, so atomic on the server. */
const MOVE_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if not value then return nil end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[2], value, 'PX', ttl) else redis.call('SET', KEYS[2], value) end
return value`;

/** Keys `<prefix><key>` with a TTL (`SET … PX`); `take` is a MULTI of GET and DEL, `move` a Lua script: atomic on the server. */
export class RedisExpiringStore implements ExpiringStore {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    logger: Logger,
  ) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 1000, connectionName: 'nexus-cos-session-mgr' });
    this.redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'session store redis error'));
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.prefix + key, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.prefix + key);
  }

  async take(key: string): Promise<string | null> {
    const results = await this.redis
      .multi()
      .get(this.prefix + key)
      .del(this.prefix + key)
      .exec();
    const [error, value] = results?.[0] ?? [new Error('the transaction was discarded'), null];
    if (error) throw error;
    return (value as string | null) ?? null;
  }

  async move(key: string, to: string): Promise<string | null> {
    const value = await this.redis.eval(MOVE_SCRIPT, 2, this.prefix + key, this.prefix + to);
    return typeof value === 'string' ? value : null;
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Redis when `redisUrl` is set, as the kit's revoked sessions and rate limits choose; this process's memory otherwise. */
export function createExpiringStore(redisUrl: string | undefined, prefix: string, logger: Logger, now: () => number): ExpiringStore {
  return redisUrl ? new RedisExpiringStore(redisUrl, prefix, logger) : new InProcessExpiringStore(now);
}
