import type { IncomingMessage } from 'node:http';
import { ErrorCode, HttpError, type Logger, type RouteHandler } from '@nexusflow/kit/core';
import { OverloadDetector } from '../admission/overload.ts';
import type { GatewayRuntimeOptions } from '../gateway.ts';
import type { GatewayMetrics } from './metrics.ts';

/** While overloaded, request bodies larger than this are refused unread: no first-party operation is that large. */
const SHED_BODIES_OVER_BYTES = 16 * 1024;

export interface LoadShedding {
  /** Whether the gateway is shedding load. */
  overload: OverloadDetector;
  /** The first route: counts requests in progress, and lets every request through to the routes after it. */
  countRequests: RouteHandler;
  /** Throws a 503 for a large body while overloaded, before the body is read. */
  refuseLargeBody(req: IncomingMessage): void;
}

/** Load shedding: the event loop's delay and the requests in progress say when to shed new documents and large bodies. */
export function loadShedding(
  delayThresholdMs: number,
  runtime: GatewayRuntimeOptions,
  logger: Logger,
  metrics: GatewayMetrics,
): LoadShedding {
  let requestsInProgress = 0;
  let peakRequestsInProgress = 0;
  const overload = new OverloadDetector({
    delayThresholdMs,
    concurrency: () => {
      const peak = peakRequestsInProgress;
      peakRequestsInProgress = requestsInProgress;
      return peak;
    },
    ...(runtime.readLoop ? { read: runtime.readLoop, windowMs: 0 } : {}),
    ...(runtime.now ? { now: runtime.now } : {}),
    onChange: (overloaded) => {
      metrics.loadShedding.set(overloaded ? 1 : 0);
      logger.warn(
        { overloaded },
        overloaded ? 'event loop overloaded: shedding new documents and large bodies' : 'event loop caught up: no longer shedding',
      );
    },
  });
  return {
    overload,
    countRequests: (_req, res) => {
      peakRequestsInProgress = Math.max(peakRequestsInProgress, ++requestsInProgress);
      res.once('close', () => requestsInProgress--);
      return false;
    },
    refuseLargeBody: (req) => {
      // Refused before its body is read: the connection closes, so the body is never parsed.
      if (!overload.overloaded || Number(req.headers['content-length'] ?? 0) <= SHED_BODIES_OVER_BYTES) return;
      metrics.refusals.inc({ code: ErrorCode.ServiceUnavailable });
      throw new HttpError(503, ErrorCode.ServiceUnavailable, 'The gateway is overloaded; try again shortly', {
        'retry-after': '1',
        connection: 'close',
      });
    },
  };
}
