import { GraphQLError } from 'graphql';
import {
  ErrorCode,
  HttpError,
  InMemoryRateLimiter,
  RedisRateLimiter,
  type Identity,
  type Logger,
  type RateLimitDecision,
  type RateLimiter,
  type RateLimitRule,
} from '@nexusflow/kit/core';

/** Requests per minute; 0 switches a limit off. */
export interface RateLimitSettings {
  /** Per signed-in user. */
  perUser: number;
  /** Per tenant, all its users together. */
  perTenant: number;
  /** Per client address, signed in or not: new accounts from one address share its budget. */
  perAddress: number;
}

/** The budgets one request draws from: all of them must have room, or the request is refused. */
export function rateLimitRules(identity: Identity, address: string, settings: RateLimitSettings): RateLimitRule[] {
  const rules: RateLimitRule[] = [];
  if (settings.perAddress > 0) rules.push({ key: `address:${address}`, limit: settings.perAddress });
  if (identity.kind === 'user') {
    if (settings.perUser > 0) rules.push({ key: `user:${identity.userId}`, limit: settings.perUser });
    if (settings.perTenant > 0) rules.push({ key: `tenant:${identity.tenantId}`, limit: settings.perTenant });
  }
  return rules;
}

export interface EdgeRateLimits {
  /** Draws one request from every budget the caller has; the refusal, if a budget is spent. */
  check(identity: Identity, address: string): Promise<RateLimitDecision | undefined>;
  close(): Promise<void>;
}

/** The gateway's rate limits: shared through Redis with `redisUrl`, in this process otherwise; none when every limit is 0. */
/** `namespace` keeps the budgets of gateways of different graphs (or deployments) sharing one Redis apart. */
export function edgeRateLimits(
  settings: RateLimitSettings,
  redisUrl: string | undefined,
  namespace: string,
  logger: Logger,
): EdgeRateLimits {
  const enabled = settings.perUser > 0 || settings.perTenant > 0 || settings.perAddress > 0;
  const limiter: RateLimiter | undefined = !enabled
    ? undefined
    : redisUrl
      ? new RedisRateLimiter(redisUrl, logger, { prefix: `${namespace}:ratelimit:gcra:` })
      : new InMemoryRateLimiter();
  return {
    async check(identity, address) {
      const rules = rateLimitRules(identity, address, settings);
      if (!limiter || rules.length === 0) return undefined;
      const decision = await limiter.consume(rules);
      return decision.allowed ? undefined : decision;
    },
    close: async () => limiter?.close(),
  };
}

export function rateLimitMessage(decision: RateLimitDecision): string {
  const scope = decision.key.slice(0, decision.key.indexOf(':'));
  return `Rate limit of ${decision.limit} requests per minute per ${scope} exceeded; retry in ${decision.retryAfterSeconds} s`;
}

/** A refusal over HTTP: 429 with when to retry, in `Retry-After` and the IETF `RateLimit-*` headers. */
export function rateLimitHttpError(decision: RateLimitDecision): HttpError {
  return new HttpError(429, ErrorCode.RateLimited, rateLimitMessage(decision), {
    'retry-after': String(decision.retryAfterSeconds),
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': '0',
    'ratelimit-reset': String(decision.resetSeconds),
  });
}

/** A refusal of one operation over WebSocket, with when to retry. */
export function rateLimitGraphQLError(decision: RateLimitDecision): GraphQLError {
  return new GraphQLError(rateLimitMessage(decision), {
    extensions: { code: ErrorCode.RateLimited, retryAfterSeconds: decision.retryAfterSeconds },
  });
}
