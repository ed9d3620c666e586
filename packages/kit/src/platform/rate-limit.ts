import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/** One budget a request is counted against. A key always goes with the same rule. */
export interface RateLimitRule {
  /** e.g. `user:<id>`, `tenant:<id>`, `address:<ip>` */
  key: string;
  /** Requests allowed per period. */
  limit: number;
  /** @default 60000 */
  periodMs?: number;
  /** Requests allowed at once on top of the steady rate; @default limit (a full period's budget may be spent at once, but never twice in one period) */
  burst?: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** The rule that refused the request, or the one with the least room left when allowed. */
  key: string;
  limit: number;
  remaining: number;
  /** Seconds until the refused request could succeed (0 when allowed). */
  retryAfterSeconds: number;
  /** Seconds until the rule's budget is full again. */
  resetSeconds: number;
}

/**
 * GCRA (generic cell rate algorithm, as in redis-cell): each key's budget refills continuously at
 * `limit / periodMs`, up to `burst` requests, so no window boundary ever hands out a second budget.
 */
export interface RateLimiter {
  /** Counts one request against every rule, all or nothing: a request refused by one rule uses no budget of the others. */
  consume(rules: readonly RateLimitRule[]): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

const DEFAULT_PERIOD_MS = 60_000;
const MICROSECONDS_PER_MILLISECOND = 1_000;
const MICROSECONDS_PER_SECOND = 1_000_000;

/**
 * A rule in GCRA's terms, in whole microseconds: integers below 2^53 are exact both in JavaScript and in
 * Redis's Lua, so that both limiters decide identically.
 */
interface Cell {
  rule: RateLimitRule;
  /** What one request adds to the backlog: the period divided by the limit, rounded down so that the steady rate is always allowed. */
  emissionIntervalUs: number;
  /** Requests a full bucket allows at once. */
  burst: number;
  /** The most backlog a bucket may hold: `burst` requests' worth. */
  toleranceUs: number;
}

function cellsOf(rules: readonly RateLimitRule[]): Cell[] {
  if (rules.length === 0) throw new RangeError('A rate-limited request needs at least one rule');
  const keys = new Set<string>();
  return rules.map((rule) => {
    const periodMs = rule.periodMs ?? DEFAULT_PERIOD_MS;
    const burst = rule.burst ?? rule.limit;
    if (rule.key === '') throw new RangeError('A rate-limit rule needs a key');
    if (keys.has(rule.key)) throw new RangeError(`Rate-limit key ${rule.key} appears twice in one request`);
    if (!Number.isInteger(rule.limit) || rule.limit < 1)
      throw new RangeError(`Rate limit of ${rule.key} must be a whole number of at least 1`);
    if (!Number.isFinite(periodMs) || periodMs <= 0) throw new RangeError(`Rate-limit period of ${rule.key} must be positive`);
    if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`Rate-limit burst of ${rule.key} must be a whole number of at least 1`);
    keys.add(rule.key);
    const emissionIntervalUs = Math.max(1, Math.floor((periodMs * MICROSECONDS_PER_MILLISECOND) / rule.limit));
    return { rule, emissionIntervalUs, burst, toleranceUs: emissionIntervalUs * burst };
  });
}

const wholeSecondsAfter = (microseconds: number) => Math.ceil(microseconds / MICROSECONDS_PER_SECOND);

/**
 * How far a bucket's theoretical arrival time lies ahead of now. Capped at the tolerance, so that a
 * bucket filled under a stricter rule, a clock that stepped back or a damaged Redis value never blocks a
 * key for longer than one full refill.
 */
function backlogOf(arrivalUs: number | undefined, nowUs: number, cell: Cell): number {
  if (arrivalUs === undefined || arrivalUs <= nowUs) return 0;
  return Math.min(arrivalUs - nowUs, cell.toleranceUs);
}

/** The decision for one request, from each rule's backlog before it; the Lua script compares the same integers. */
function decide(cells: readonly Cell[], backlogsUs: readonly number[]): RateLimitDecision {
  const states = cells.map((cell, index) => {
    const backlogUs = backlogsUs[index] ?? 0;
    return { cell, backlogUs, excessUs: backlogUs + cell.emissionIntervalUs - cell.toleranceUs };
  });

  const refusals = states.filter((state) => state.excessUs > 0);
  if (refusals.length > 0) {
    // The longest wait: a client that retries after it is not refused again by another rule.
    const refusing = refusals.reduce((longest, state) => (state.excessUs > longest.excessUs ? state : longest));
    return {
      allowed: false,
      key: refusing.cell.rule.key,
      limit: refusing.cell.rule.limit,
      remaining: 0,
      retryAfterSeconds: wholeSecondsAfter(refusing.excessUs),
      resetSeconds: wholeSecondsAfter(refusing.backlogUs),
    };
  }

  const after = states.map(({ cell, backlogUs }) => {
    const backlogAfterUs = backlogUs + cell.emissionIntervalUs;
    return { cell, backlogAfterUs, remaining: Math.floor((cell.toleranceUs - backlogAfterUs) / cell.emissionIntervalUs) };
  });
  const tightest = after.reduce((least, state) =>
    state.remaining < least.remaining || (state.remaining === least.remaining && state.backlogAfterUs > least.backlogAfterUs)
      ? state
      : least,
  );
  return {
    allowed: true,
    key: tightest.cell.rule.key,
    limit: tightest.cell.rule.limit,
    remaining: tightest.remaining,
    retryAfterSeconds: 0,
    resetSeconds: wholeSecondsAfter(tightest.backlogAfterUs),
  };
}

export interface InMemoryRateLimiterOptions {
  /** Milliseconds since the epoch; tests pass a clock they control. @default Date.now */
  now?: () => number;
  /** How often, by `now`, buckets that are full again are forgotten (checked on each request, no timer). @default 10000 */
  sweepIntervalMs?: number;
}

/** Budgets of one process: right for a single gateway instance and for tests. */
export class InMemoryRateLimiter implements RateLimiter {
  /** Each key's theoretical arrival time in microseconds; a key that is absent has a full bucket. */
  private readonly arrivals = new Map<string, number>();
  private readonly now: () => number;
  private readonly sweepIntervalUs: number;
  private lastSweepUs = Number.NEGATIVE_INFINITY;

  constructor(options: InMemoryRateLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepIntervalUs = (options.sweepIntervalMs ?? 10_000) * MICROSECONDS_PER_MILLISECOND;
  }

  /** Buckets held: only keys whose budget is not full again, plus those not swept yet. */
  get size(): number {
    return this.arrivals.size;
  }

  async consume(rules: readonly RateLimitRule[]): Promise<RateLimitDecision> {
    const cells = cellsOf(rules);
    const nowUs = Math.round(this.now() * MICROSECONDS_PER_MILLISECOND);
    this.sweepWhenDue(nowUs);

    const backlogsUs = cells.map((cell) => backlogOf(this.arrivals.get(cell.rule.key), nowUs, cell));
    const decision = decide(cells, backlogsUs);
    cells.forEach((cell, index) => {
      const backlogUs = backlogsUs[index]!;
      if (decision.allowed) this.arrivals.set(cell.rule.key, nowUs + backlogUs + cell.emissionIntervalUs);
      else if (backlogUs === cell.toleranceUs) this.arrivals.set(cell.rule.key, nowUs + backlogUs);
    });
    return decision;
  }

  private sweepWhenDue(nowUs: number): void {
    // Either direction: a clock stepped back must not postpone sweeping until it catches up.
    if (Math.abs(nowUs - this.lastSweepUs) < this.sweepIntervalUs) return;
    this.lastSweepUs = nowUs;
    for (const [key, arrivalUs] of this.arrivals) if (arrivalUs <= nowUs) this.arrivals.delete(key);
  }

  async close(): Promise<void> {
    this.arrivals.clear();
  }
}

/**
 * Checks every rule, then spends every budget or none, in one step on the server, with the server's
 * clock so that all gateway instances agree. KEYS are the buckets; ARGV holds each rule's emission
 * interval and tolerance in microseconds. A bucket is its theoretical arrival time, expiring when full
 * again. Returns each bucket's backlog before the request, from which `decide` derives the same answer.
 */
const CONSUME_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local backlogs = {}
local allowed = true
for index, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[index * 2 - 1])
  local tolerance = tonumber(ARGV[index * 2])
  local arrival = tonumber(redis.call('GET', key)) or now
  local backlog = math.max(arrival - now, 0)
  if backlog > tolerance then
    backlog = tolerance
    redis.call('SET', key, string.format('%d', now + backlog), 'PX', string.format('%d', math.ceil(backlog / 1000)))
  end
  backlogs[index] = backlog
  if backlog + interval > tolerance then allowed = false end
end
if allowed then
  for index, key in ipairs(KEYS) do
    local backlog = backlogs[index] + tonumber(ARGV[index * 2 - 1])
    redis.call('SET', key, string.format('%d', now + backlog), 'PX', string.format('%d', math.ceil(backlog / 1000)))
  end
end
return backlogs
`;
const CONSUME_SCRIPT_SHA1 = createHash('sha1').update(CONSUME_SCRIPT).digest('hex');

export interface RedisRateLimiterOptions {
  /** Prepended to every key in Redis. @default 'nexusflow:ratelimit:gcra:' */
  prefix?: string;
  /** How long a request waits for Redis before the limiter fails open. @default 250 */
  commandTimeoutMs?: number;
}

/** Budgets shared by every gateway instance through one Redis. */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(
    url: string,
    private readonly logger: Logger,
    options: RedisRateLimiterOptions = {},
  ) {
    // Not the fixed-window limiter's prefix: its INCR on a stored arrival time would refuse everyone
    // during a rolling deployment.
    this.prefix = options.prefix ?? 'nexusflow:ratelimit:gcra:';
    // Commands wait for the connection (so the first requests are counted too), but never longer than
    // the timeout: a Redis outage costs each request at most that, then the limiter fails open.
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 250,
      connectionName: 'nexusflow-ratelimit',
    });
    this.redis.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'rate limiter redis error'));
  }

  /**
   * Fails open: when Redis cannot answer, the request is allowed and a warning logged, because an
   * outage of the limiter must not become an outage of the API.
   */
  async consume(rules: readonly RateLimitRule[]): Promise<RateLimitDecision> {
    const cells = cellsOf(rules);
    try {
      const backlogsUs = (await this.runConsumeScript(cells)) as number[];
      return decide(cells, backlogsUs);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'rate limiter unavailable; allowing request');
      return failedOpen(cells);
    }
  }

  private async runConsumeScript(cells: readonly Cell[]): Promise<unknown> {
    const keys = cells.map((cell) => this.prefix + cell.rule.key);
    const args = cells.flatMap((cell) => [cell.emissionIntervalUs, cell.toleranceUs]);
    try {
      return await this.redis.evalsha(CONSUME_SCRIPT_SHA1, keys.length, ...keys, ...args);
    } catch (error) {
      // Redis forgets scripts when it restarts or on SCRIPT FLUSH; EVAL runs and caches it again.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.redis.eval(CONSUME_SCRIPT, keys.length, ...keys, ...args);
    }
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** What a limiter that cannot count answers: allowed, every budget taken as full, named by the smallest. */
function failedOpen(cells: readonly Cell[]): RateLimitDecision {
  const smallest = cells.reduce((least, cell) => (cell.burst < least.burst ? cell : least));
  return {
    allowed: true,
    key: smallest.rule.key,
    limit: smallest.rule.limit,
    remaining: smallest.burst,
    retryAfterSeconds: 0,
    resetSeconds: 0,
  };
}

/** Redis when `redisUrl` is set, so that every instance shares the budgets; this process's memory otherwise. */
export function createRateLimiter(
  redisUrl: string | undefined,
  logger: Logger,
  options: RedisRateLimiterOptions & { now?: () => number } = {},
): RateLimiter {
  const { now, ...redisOptions } = options;
  return redisUrl ? new RedisRateLimiter(redisUrl, logger, redisOptions) : new InMemoryRateLimiter(now ? { now } : {});
}
