import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/**
 * Sign-in sessions ended before their access tokens expire. The auth subgraph adds a session when it is revoked (or
 * logged out), and the gateway refuses access tokens whose `sid` is in the set. An entry needs to outlive only the
 * session's last access token, so each is kept until then and forgotten after.
 */
export interface RevokedSessions {
  /** Adds the session until `until` (ms since the epoch): the latest expiry of an access token issued for it. */
  revoke(sessionId: string, until: number): Promise<void>;
  isRevoked(sessionId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The embedded stand-in: one process's memory, so only that process sees it (see the gateway's `sessionRevocation`). */
export class InProcessRevokedSessions implements RevokedSessions {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async revoke(sessionId: string, until: number): Promise<void> {
    this.forgetExpired();
    this.until.set(sessionId, Math.max(until, this.until.get(sessionId) ?? 0));
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    return (this.until.get(sessionId) ?? 0) > this.now();
  }

  async close(): Promise<void> {
    this.until.clear();
  }

  private forgetExpired(): void {
    const now = this.now();
    for (const [sessionId, until] of this.until) if (until <= now) this.until.delete(sessionId);
  }
}

export interface RedisRevokedSessionsOptions {
  /** Prepended to every key, e.g. the graph's Redis namespace and `:`. @default 'nexusflow:' */
  prefix?: string;
  /** How long a command waits for Redis before it fails. @default 250 */
  commandTimeoutMs?: number;
}

/**
 * Shared by every gateway and auth instance: a key `<prefix>sessions:revoked:<id>` per revoked session, expiring with
 * the session's last access token, so the set never grows beyond the sessions revoked in one token lifetime.
 */
export class RedisRevokedSessions implements RevokedSessions {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(url: string, logger: Logger, options: RedisRevokedSessionsOptions = {}) {
    this.prefix = `${options.prefix ?? 'nexusflow:'}sessions:revoked:`;
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 250,
      connectionName: 'nexusflow-revoked-sessions',
    });
    this.redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'revoked sessions redis error'));
  }

  async revoke(sessionId: string, until: number): Promise<void> {
    const ttlMs = Math.ceil(until - Date.now());
    if (ttlMs <= 0) return;
    await this.redis.set(this.prefix + sessionId, '1', 'PX', ttlMs);
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.redis.exists(this.prefix + sessionId)) === 1;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Redis when `redisUrl` is set, so that every instance shares the set; this process's memory otherwise. */
export function createRevokedSessions(
  redisUrl: string | undefined,
  logger: Logger,
  options: RedisRevokedSessionsOptions & { now?: () => number } = {},
): RevokedSessions {
  const { now, ...redisOptions } = options;
  return redisUrl ? new RedisRevokedSessions(redisUrl, logger, redisOptions) : new InProcessRevokedSessions(now);
}
