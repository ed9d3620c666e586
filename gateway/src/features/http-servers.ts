import type { IncomingMessage, Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import {
  bearerMatches,
  createHttpServer,
  ErrorCode,
  errorResponseBody,
  graphqlRoute,
  healthRoutes,
  type Health,
  type Logger,
  type Metrics,
  type RouteHandler,
  sendJson,
} from '@nexusflow/kit/core';
import type { Admission } from '../admission/admission.ts';
import { admitHttpRequest } from '../admission/http.ts';
import type { MetricsOfAllWorkers } from '../cluster.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { landingPage } from '../landing-page.ts';
import type { LoadShedding } from './load-shedding.ts';
import { withIncrementalDelivery } from './incremental-delivery.ts';
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
  /** In a worker of the multi-process mode: /metrics answers with every worker's series. */
  scrape?: MetricsOfAllWorkers | undefined;
}

/**
 * /metrics of the whole gateway in the multi-process mode, placed before the kit's health routes: a scrape without
 * the token is left to them, which refuse it exactly as a single gateway does.
 */
function metricsOfAllWorkersRoute(scrape: MetricsOfAllWorkers, token: string | undefined, logger: Logger): RouteHandler {
  return async (req, res, url) => {
    if (url.pathname !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    if (token !== undefined && !bearerMatches(req, token)) return false;
    try {
      const { contentType, body } = await scrape();
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    } catch (error) {
      logger.error({ err: error }, "the workers' metrics could not be aggregated");
      sendJson(res, 503, errorResponseBody(ErrorCode.ServiceUnavailable, 'Metrics are unavailable; try again'));
    }
    return true;
  };
}

/** Health, and metrics (of this process, or of every worker with `scrape`) unless `metrics` is undefined. */
function healthAndMetrics(
  health: Health,
  metrics: Metrics | undefined,
  token: string | undefined,
  scrape: MetricsOfAllWorkers | undefined,
  logger: Logger,
): RouteHandler[] {
  const routes = [healthRoutes(health, metrics, { token })];
  return metrics && scrape ? [metricsOfAllWorkersRoute(scrape, token, logger), ...routes] : routes;
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
      ...healthAndMetrics(
        options.health,
        config.publicMetrics ? options.metrics : undefined,
        config.metricsToken,
        options.scrape,
        options.logger,
      ),
      (options.observe ?? ((route) => route))(
        firstOf([
          ...(config.explorer ? [landingPage(options.path)] : []),
          options.streaming.httpRoutes(options.path),
          graphqlRoute({
            apollo: withIncrementalDelivery(options.apollo),
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
export function adminServer(
  health: Health,
  metrics: Metrics,
  metricsToken: string | undefined,
  logger: Logger,
  scrape?: MetricsOfAllWorkers,
): Server {
  return createHttpServer({ logger, metrics, routes: healthAndMetrics(health, metrics, metricsToken, scrape, logger) });
}
