import type { GraphQLError } from 'graphql';
import { ErrorCode, type Identity, type Logger, type RateLimitDecision } from '@nexusflow/kit/core';
import { edgeRateLimits, rateLimitGraphQLError, type RateLimitSettings } from '../admission/rate-limits.ts';
import type { StreamingCaller } from '../subscriptions/operations.ts';
import type { GatewayMetrics } from './metrics.ts';

export interface RateLimiting {
  /** Draws one request from the caller's budgets; the refusal, counted, if one is spent. */
  check: (identity: Identity, address: string) => Promise<RateLimitDecision | undefined>;
  /** The same for a streaming caller (a connection, or an operation on it), as GraphQL errors. */
  checkStreaming: (caller: StreamingCaller) => Promise<GraphQLError | undefined>;
  close(): Promise<void>;
}

export function rateLimiting(
  settings: RateLimitSettings,
  redisUrl: string | undefined,
  namespace: string,
  logger: Logger,
  metrics: GatewayMetrics,
): RateLimiting {
  const limits = edgeRateLimits(settings, redisUrl, namespace, logger);
  const check = async (identity: Identity, address: string): Promise<RateLimitDecision | undefined> => {
    const refused = await limits.check(identity, address);
    if (refused) metrics.refusals.inc({ code: ErrorCode.RateLimited });
    return refused;
  };
  return {
    check,
    checkStreaming: async ({ identity, clientAddress }) => {
      const refused = await check(identity, clientAddress);
      return refused && rateLimitGraphQLError(refused);
    },
    close: () => limits.close(),
  };
}
