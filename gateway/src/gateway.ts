import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import {
  ANONYMOUS,
  createHttpServer,
  createLogger,
  ErrorCode,
  formatClientError,
  graphqlRoute,
  Health,
  healthRoutes,
  HttpError,
  InMemoryRateLimiter,
  listen,
  Metrics,
  RedisRateLimiter,
  signIdentity,
  type Logger,
  type RateLimiter,
} from '@nexusflow/kit/core';
import type { GraphQLSchema } from 'graphql';
import { Counter, Gauge } from 'prom-client';
import { authenticate } from './authenticate.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { FastGateway } from './execution/gateway.ts';
import { landingPage } from './landing-page.ts';
import { SubgraphDataSource } from './subgraph-data-source.ts';
import { supergraphFromFile, type SupergraphUpdate } from './supergraph-source.ts';
import { FederatedSubscriptions } from './subscriptions/federated.ts';
import { serveGatewaySubscriptions } from './subscriptions/server.ts';
import { withDeduplication } from './request-deduplication.ts';
import { UpstreamSubscriptions } from './subscriptions/upstream.ts';

export interface RunningGateway {
  url: string;
  graphqlUrl: string;
  metrics: Metrics;
  health: Health;
  /** Called after every attempt to switch to a new supergraph; returns an unsubscribe function. */
  onSupergraphUpdate(listener: (update: SupergraphUpdate) => void): () => void;
  close(): Promise<void>;
}

const GRAPHQL_PATH = '/graphql';

function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  const forwarded = req.headers['x-forwarded-for'];
  if (trustProxy && typeof forwarded === 'string') return forwarded.split(',')[0]!.trim();
  return req.socket.remoteAddress ?? 'unknown';
}

function createRateLimiter(config: GatewayConfig, logger: Logger): RateLimiter | undefined {
  if (config.rateLimitPerMinute === 0) return undefined;
  const options = { limit: config.rateLimitPerMinute, windowMs: 60_000 };
  return config.redisUrl ? new RedisRateLimiter(config.redisUrl, options, logger) : new InMemoryRateLimiter(options);
}

/** Readiness means every subgraph answers `{ __typename }`, asked the way the gateway asks. */
async function checkSubgraph(url: string, internalSecret: string): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signIdentity(ANONYMOUS, internalSecret) },
    body: JSON.stringify({ query: '{ __typename }' }),
    signal: AbortSignal.timeout(2000),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const body = (await response.json()) as { errors?: unknown[] };
  if (body.errors?.length) throw new Error('answered with errors');
}

export async function startGateway(config: GatewayConfig): Promise<RunningGateway> {
  const logger = createLogger({ name: 'gateway', level: config.logLevel });
  const metrics = new Metrics('gateway');
  const subgraphUrls = new Map<string, string>();
  /** Upstream subscriptions know their subgraph by URL; metrics name it by service, unless a new supergraph dropped it. */
  const subgraphNameOf = (url: string): string => [...subgraphUrls].find(([, routingUrl]) => routingUrl === url)?.[0] ?? url;
  const dataSources = new Map<string, SubgraphDataSource>();
  const upstreamGauge = new Gauge({ name: 'gateway_upstream_subscriptions', help: 'Subscriptions the gateway holds on subgraphs', registers: [metrics.registry] });
  const connectionGauge = new Gauge({ name: 'gateway_websocket_connections', help: 'Open GraphQL WebSocket connections', registers: [metrics.registry] });
  const upstreamReconnects = new Counter({
    name: 'gateway_upstream_reconnects_total',
    help: 'WebSocket connections to subgraphs re-established after they dropped, by subgraph',
    labelNames: ['subgraph'] as const,
    registers: [metrics.registry],
  });
  const upstreams = new UpstreamSubscriptions({
    internalSecret: config.internalSecret,
    logger,
    reconnect: config.upstreamReconnect,
    onCount: (open) => upstreamGauge.set(open),
    onReconnect: (url) => upstreamReconnects.inc({ subgraph: subgraphNameOf(url) }),
  });
  const eventsResolved = new Counter({
    name: 'gateway_subscription_events_resolved_total',
    help: 'Upstream subscription events for which the rest of the query plan ran, once per group of identical subscriptions',
    registers: [metrics.registry],
  });
  const federated = new FederatedSubscriptions({ supergraph: () => gateway.loaded, upstreams, dataSources, logger, onEventResolved: () => eventsResolved.inc() });
  let apiSchema: GraphQLSchema | undefined;
  const supergraphUpdates = new EventEmitter<{ update: [SupergraphUpdate] }>();
  const supergraphUpdateCounter = new Counter({
    name: 'supergraph_updates_total',
    help: 'Attempts to switch to a new supergraph, by outcome',
    labelNames: ['outcome'] as const,
    registers: [metrics.registry],
  });

  const gateway = new FastGateway({
    supergraphSdl: supergraphFromFile({
      path: config.supergraphPath,
      pollIntervalMs: config.supergraphPollIntervalMs,
      logger,
      onUpdate: (update) => {
        supergraphUpdateCounter.inc({ outcome: update.outcome });
        supergraphUpdates.emit('update', update);
      },
    }),
    buildService: ({ name, url }) => {
      const routingUrl = config.subgraphUrls[name] ?? url;
      if (!routingUrl) throw new Error(`Subgraph ${name} has no routing URL; set SUBGRAPH_${name.toUpperCase()}_URL`);
      subgraphUrls.set(name, routingUrl);
      // Exported at 0 from the start, so that rate() and alerts see a series before the first reconnection.
      upstreamReconnects.inc({ subgraph: name }, 0);
      // A new supergraph keeps the connection pool of a subgraph whose URL did not change.
      const existing = dataSources.get(name);
      if (existing?.url === routingUrl) return existing;
      // Operations planned on the previous supergraph may still fetch through the old pool for a while.
      if (existing) setTimeout(() => void existing.close(), config.shutdownTimeoutMs).unref();
      const dataSource = new SubgraphDataSource(routingUrl, name, config.internalSecret, config.subgraphClient);
      dataSources.set(name, dataSource);
      return dataSource;
    },
    logger,
  });
  gateway.onSchemaLoadOrUpdate(({ apiSchema: loaded }) => {
    apiSchema = loaded;
  });

  const apollo = new ApolloServer<GatewayContext>({
    gateway: config.requestDeduplication ? withDeduplication(gateway) : gateway,
    introspection: config.introspection,
    includeStacktraceInErrorResponses: false,
    formatError: (formatted, error) => {
      const safe = formatClientError(formatted);
      if (safe.extensions?.code === ErrorCode.InternalServerError) logger.error({ err: error }, 'operation failed');
      return safe;
    },
    plugins: [ApolloServerPluginLandingPageDisabled(), metrics.apolloPlugin()],
  });
  await apollo.start();

  const rateLimiter = createRateLimiter(config, logger);
  const context = async (req: IncomingMessage, requestId: string): Promise<GatewayContext> => {
    const identity = await authenticate(req, config.jwtSecret);
    if (rateLimiter) {
      const key = identity.kind === 'user' ? `user:${identity.userId}` : `ip:${clientAddress(req, config.trustProxy)}`;
      const decision = await rateLimiter.consume(key);
      if (!decision.allowed) {
        throw new HttpError(429, ErrorCode.RateLimited, `Rate limit of ${decision.limit} requests per minute exceeded`, {
          'retry-after': String(decision.resetSeconds),
          'ratelimit-limit': String(decision.limit),
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(decision.resetSeconds),
        });
      }
    }
    return { identity, requestId };
  };

  const health = new Health('gateway', {
    subgraphs: async () => {
      if (subgraphUrls.size === 0) throw new Error('no supergraph loaded');
      const results = await Promise.allSettled(
        [...subgraphUrls].map(async ([name, url]) => {
          try {
            await checkSubgraph(url, config.internalSecret);
          } catch (error) {
            throw new Error(`${name}: ${(error as Error).message}`);
          }
        }),
      );
      const failures = results.flatMap((result) => (result.status === 'rejected' ? [(result.reason as Error).message] : []));
      if (failures.length > 0) throw new Error(failures.join('; '));
    },
  });

  const server = createHttpServer({
    logger,
    metrics,
    knownPaths: ['/'],
    routes: [
      healthRoutes(health, metrics),
      landingPage(GRAPHQL_PATH),
      graphqlRoute({ apollo, context, path: GRAPHQL_PATH, maxBodyBytes: config.maxBodyBytes }),
    ],
  });
  const subscriptions = serveGatewaySubscriptions({
    server,
    path: GRAPHQL_PATH,
    apollo,
    federated,
    schema: () => apiSchema,
    jwtSecret: config.jwtSecret,
    logger,
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    maxConnectionsPerTenant: config.maxConnectionsPerTenant,
    connectionInitWaitTimeoutMs: config.wsConnectionInitTimeoutMs,
    onConnectionCount: (open) => connectionGauge.set(open),
  });
  const http = await listen(server, config.port, config.host).catch(async (error: unknown) => {
    await subscriptions.close();
    await apollo.stop();
    await rateLimiter?.close();
    throw error;
  });
  logger.info({ url: `${http.url}${GRAPHQL_PATH}`, subgraphs: Object.fromEntries(subgraphUrls) }, 'gateway ready');

  return {
    url: http.url,
    graphqlUrl: `${http.url}${GRAPHQL_PATH}`,
    metrics,
    health,
    onSupergraphUpdate(listener) {
      supergraphUpdates.on('update', listener);
      return () => supergraphUpdates.off('update', listener);
    },
    async close() {
      health.startDraining();
      await subscriptions.close();
      await upstreams.dispose();
      await http.close(config.shutdownTimeoutMs);
      await apollo.stop();
      await Promise.all([...dataSources.values()].map((dataSource) => dataSource.close()));
      await rateLimiter?.close();
      logger.info('gateway stopped');
    },
  };
}
