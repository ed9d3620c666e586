import type { IncomingMessage, Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import {
  createHttpServer,
  graphqlRoute,
  healthRoutes,
  type Health,
  type Logger,
  type Metrics,
  type RouteHandler,
} from '@nexusflow/kit/core';
import type { Admission } from '../admission/admission.ts';
import { admitHttpRequest } from '../admission/http.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { landingPage } from '../landing-page.ts';
import type { LoadShedding } from './load-shedding.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { Streaming } from './streaming.ts';

export interface PublicServerOptions {
  path: string;
  config: Pick<GatewayConfig, 'publicMetrics' | 'metricsToken' | 'explorer' | 'maxBodyBytes'>;
  logger: Logger;
  metrics: Metrics;
  gatewayMetrics: GatewayMetrics;
  health: Health;
  shedding: LoadShedding;
  streaming: Streaming;
  apollo: ApolloServer<GatewayContext>;
  admission: Admission;
  context: (req: IncomingMessage, requestId: string) => Promise<GatewayContext>;
  /** Wraps the routes past health and metrics: each request's trace and access-log line. */
  observe?: (route: RouteHandler) => RouteHandler;
}

/** The routes tried in order, as one: the first that answers. */
function firstOf(routes: RouteHandler[]): RouteHandler {
  return async (req, res, url) => {
    for (const route of routes) if (await route(req, res, url)) return true;
    return false;
  };
}

/** The public port: health (and metrics, if public), the explorer, streams, and GraphQL over HTTP, in that order. */
export function publicServer(options: PublicServerOptions): Server {
  const { config, shedding, gatewayMetrics } = options;
  return createHttpServer({
    logger: options.logger,
    metrics: options.metrics,
    knownPaths: ['/'],
    routes: [
      shedding.countRequests,
      healthRoutes(options.health, config.publicMetrics ? options.metrics : undefined, { token: config.metricsToken }),
      (options.observe ?? ((route) => route))(
        firstOf([
          ...(config.explorer ? [landingPage(options.path)] : []),
          options.streaming.httpRoutes(options.path),
          graphqlRoute({
            apollo: options.apollo,
            context: options.context,
            admit: (request) =>
              admitHttpRequest(options.admission, request, (refusal) => gatewayMetrics.refusals.inc({ code: refusal.code }), {
                knownOnly: shedding.overload.overloaded,
              }),
            path: options.path,
            maxBodyBytes: config.maxBodyBytes,
          }),
        ]),
      ),
    ],
  });
}

/** The admin port: metrics and health, off the public one. */
export function adminServer(health: Health, metrics: Metrics, metricsToken: string | undefined, logger: Logger): Server {
  return createHttpServer({ logger, metrics, routes: [healthRoutes(health, metrics, { token: metricsToken })] });
}
