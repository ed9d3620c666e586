import type { ApolloServer } from '@apollo/server';
import type { Health, Logger, RunningHttpServer } from '@nexusflow/kit/core';
import type { GatewayContext } from '../context.ts';
import type { LoadShedding } from './load-shedding.ts';
import type { RateLimiting } from './rate-limiting.ts';
import type { Subgraphs } from './subgraphs.ts';
import type { Streaming } from './streaming.ts';

export interface RunningParts {
  logger: Logger;
  health: Health;
  webSocket: { close(): Promise<void> };
  streaming: Streaming;
  http: RunningHttpServer;
  admin: RunningHttpServer | undefined;
  apollo: ApolloServer<GatewayContext>;
  subgraphs: Subgraphs;
  rateLimits: RateLimiting;
  shedding: LoadShedding;
  /** How long requests in flight have to finish. */
  timeoutMs: number;
}

/**
 * Stops the gateway from the outside in: readiness reports draining first, so that load balancers stop sending; then
 * long-lived connections and their upstreams end, requests in flight finish (within the timeout), and what they used
 * (Apollo, the subgraph pools, the rate limiter) closes last.
 */
export async function shutDown(parts: RunningParts): Promise<void> {
  parts.health.startDraining();
  await parts.webSocket.close();
  await parts.streaming.close();
  await parts.http.close(parts.timeoutMs);
  await parts.admin?.close(parts.timeoutMs);
  await parts.apollo.stop();
  await parts.subgraphs.close();
  await parts.rateLimits.close();
  parts.shedding.overload.close();
  parts.logger.info('gateway stopped');
}
