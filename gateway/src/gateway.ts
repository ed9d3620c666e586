import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { Counter, Gauge } from 'prom-client';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import {
  createHttpServer,
  createLogger,
  ErrorCode,
  formatClientError,
  graphqlRoute,
  Health,
  healthRoutes,
  HttpError,
  listen,
  Metrics,
  type Identity,
  type RateLimitDecision,
  type RunningHttpServer,
} from '@nexusflow/kit/core';
import type { GraphQLSchema } from 'graphql';
import { Admission } from './admission/admission.ts';
import { clientAddress } from './admission/client-address.ts';
import { admitHttpRequest } from './admission/http.ts';
import { OverloadDetector, type LoopReading } from './admission/overload.ts';
import { edgeRateLimits, rateLimitGraphQLError, rateLimitHttpError } from './admission/rate-limits.ts';
import { findManifests, TrustedDocuments, TrustedDocumentsMode } from './admission/trusted-documents.ts';
import { authenticate } from './authenticate.ts';
import { DEFAULT_CLIENTS_DIRECTORY, type GatewayConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { FastGateway } from './execution/gateway.ts';
import { documentStore } from './document-store.ts';
import { landingPage } from './landing-page.ts';
import { DemandControl } from './plugins/demand-control.ts';
import { SubgraphDataSource } from './subgraph-data-source.ts';
import { SubgraphHealth } from './subgraph-health.ts';
import { supergraphFromFile, type SupergraphUpdate } from './supergraph-source.ts';
import { FederatedSubscriptions } from './subscriptions/federated.ts';
import { ConnectionLimits } from './subscriptions/connection-limits.ts';
import { httpStreamRoutes } from './subscriptions/http-streams.ts';
import { StreamingOperations } from './subscriptions/operations.ts';
import { serveGatewaySubscriptions } from './subscriptions/server.ts';
import { withDeduplication } from './request-deduplication.ts';
import { UpstreamSubscriptions } from './subscriptions/upstream.ts';

export interface RunningGateway {
  url: string;
  graphqlUrl: string;
  /** The admin listener (metrics and health off the public port), when ADMIN_PORT is set. */
  adminUrl: string | undefined;
  /** Whether the gateway is shedding load. */
  overload: OverloadDetector;
  metrics: Metrics;
  health: Health;
  /** Called after every attempt to switch to a new supergraph; returns an unsubscribe function. */
  onSupergraphUpdate(listener: (update: SupergraphUpdate) => void): () => void;
  close(): Promise<void>;
}

const GRAPHQL_PATH = '/graphql';

/** Memory for the parsed and validated documents Apollo Server keeps. */
const PARSED_DOCUMENTS_BYTES = 32 * 1024 * 1024;

/** While overloaded, request bodies larger than this are refused unread: no first-party operation is that large. */
const SHED_BODIES_OVER_BYTES = 16 * 1024;

/** Options for tests and tools, beside the configuration. */
export interface GatewayRuntimeOptions {
  /** The clock identity signatures and token expiries are read from. @default Date.now */
  now?: () => number;
  /** Readings of the event loop for load shedding, taken only when `overload.sample()` is called (tests). @default Node's monitors, every 100 ms */
  readLoop?: () => LoopReading;
}

export async function startGateway(config: GatewayConfig, runtime: GatewayRuntimeOptions = {}): Promise<RunningGateway> {
  const logger = createLogger({ name: 'gateway', level: config.logLevel });
  const metrics = new Metrics('gateway');
  const refusals = new Counter({
    name: 'gateway_operations_refused_total',
    help: 'Operations refused before execution (limits, cost, trusted documents, rate limits), by code',
    labelNames: ['code'] as const,
    registers: [metrics.registry],
  });
  const trustedDocuments = await TrustedDocuments.load(
    config.trustedDocuments.mode,
    config.trustedDocuments.manifests ?? (await findManifests(DEFAULT_CLIENTS_DIRECTORY)),
  );
  if (config.trustedDocuments.mode !== TrustedDocumentsMode.Off)
    logger.info({ mode: config.trustedDocuments.mode, documents: trustedDocuments.size }, 'serving trusted documents');
  const admission = new Admission({ limits: config.limits, trustedDocuments });
  const sheddingGauge = new Gauge({
    name: 'gateway_load_shedding',
    help: '1 while the event loop is overloaded and new documents are shed',
    registers: [metrics.registry],
  });
  let requestsInProgress = 0;
  let peakRequestsInProgress = 0;
  const overload = new OverloadDetector({
    delayThresholdMs: config.loadSheddingDelayMs,
    concurrency: () => {
      const peak = peakRequestsInProgress;
      peakRequestsInProgress = requestsInProgress;
      return peak;
    },
    ...(runtime.readLoop ? { read: runtime.readLoop, windowMs: 0 } : {}),
    ...(runtime.now ? { now: runtime.now } : {}),
    onChange: (overloaded) => {
      sheddingGauge.set(overloaded ? 1 : 0);
      logger.warn(
        { overloaded },
        overloaded ? 'event loop overloaded: shedding new documents and large bodies' : 'event loop caught up: no longer shedding',
      );
    },
  });
  const demandControl = new DemandControl({ ...config.demandControl, registry: metrics.registry, logger });
  const subgraphUrls = new Map<string, string>();
  /** Upstream subscriptions know their subgraph by URL; metrics name it by service, unless a new supergraph dropped it. */
  const subgraphNameOf = (url: string): string => [...subgraphUrls].find(([, routingUrl]) => routingUrl === url)?.[0] ?? url;
  const dataSources = new Map<string, SubgraphDataSource>();
  const upstreamGauge = new Gauge({
    name: 'gateway_upstream_subscriptions',
    help: 'Subscriptions the gateway holds on subgraphs',
    registers: [metrics.registry],
  });
  const connectionGauge = new Gauge({
    name: 'gateway_websocket_connections',
    help: 'Open long-lived GraphQL connections: WebSocket connections, and Server-Sent Event and multipart streams',
    registers: [metrics.registry],
  });
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
  const federated = new FederatedSubscriptions({
    supergraph: () => gateway.loaded,
    prepare: (document, source, operationName) => gateway.prepare(document, source, operationName),
    upstreams,
    dataSources,
    logger,
    onEventResolved: () => eventsResolved.inc(),
  });
  let apiSchema: GraphQLSchema | undefined;
  const supergraphUpdates = new EventEmitter<{ update: [SupergraphUpdate] }>();
  const supergraphUpdateCounter = new Counter({
    name: 'supergraph_updates_total',
    help: 'Attempts to switch to a new supergraph, by outcome',
    labelNames: ['outcome'] as const,
    registers: [metrics.registry],
  });

  const gateway = new FastGateway(
    {
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
        const dataSource = new SubgraphDataSource(routingUrl, name, config.internalSecret, {
          ...config.subgraphClient,
          ...(runtime.now ? { now: runtime.now } : {}),
        });
        dataSources.set(name, dataSource);
        return dataSource;
      },
      logger,
    },
    {
      preparedOperationCacheBytes: config.planCacheBytes,
      operationTimeoutMs: config.operationTimeoutMs,
      planner: config.planner,
      logger,
    },
  );
  gateway.onSchemaLoadOrUpdate(({ apiSchema: loaded, coreSupergraphSdl }) => {
    apiSchema = loaded;
    demandControl.update(coreSupergraphSdl);
  });

  const apollo = new ApolloServer<GatewayContext>({
    gateway: config.requestDeduplication ? withDeduplication(gateway) : gateway,
    introspection: config.introspection,
    // Suggestions ("Did you mean …?") would reveal, field by field, the schema that introspection hides.
    hideSchemaDetailsFromClientErrors: !config.introspection,
    parseOptions: { maxTokens: config.limits.maxTokens },
    documentStore: documentStore(PARSED_DOCUMENTS_BYTES),
    includeStacktraceInErrorResponses: false,
    // main() stops the gateway on SIGTERM/SIGINT, draining first; Apollo's own handler would kill it halfway.
    stopOnTerminationSignals: false,
    formatError: (formatted, error) => {
      const safe = formatClientError(formatted, error);
      if (safe.extensions?.code === ErrorCode.InternalServerError) logger.error({ err: error }, 'operation failed');
      else if (safe.extensions?.code === ErrorCode.ServiceUnavailable && formatted.extensions?.code !== ErrorCode.ServiceUnavailable)
        logger.warn({ err: error }, 'a dependency of the gateway is unavailable');
      return safe;
    },
    plugins: [ApolloServerPluginLandingPageDisabled(), metrics.apolloPlugin(), demandControl.apolloPlugin()],
  });
  await apollo.start();

  const rateLimits = edgeRateLimits(config.rateLimits, config.redisUrl, logger);
  const rateLimit = async (identity: Identity, address: string): Promise<RateLimitDecision | undefined> => {
    const refused = await rateLimits.check(identity, address);
    if (refused) refusals.inc({ code: ErrorCode.RateLimited });
    return refused;
  };
  const context = async (req: IncomingMessage, requestId: string): Promise<GatewayContext> => {
    // Refused before its body is read: the connection closes, so the body is never parsed.
    if (overload.overloaded && Number(req.headers['content-length'] ?? 0) > SHED_BODIES_OVER_BYTES) {
      refusals.inc({ code: ErrorCode.ServiceUnavailable });
      throw new HttpError(503, ErrorCode.ServiceUnavailable, 'The gateway is overloaded; try again shortly', {
        'retry-after': '1',
        connection: 'close',
      });
    }
    const { identity } = await authenticate(req, config.jwtSecret, runtime.now);
    const address = clientAddress(req, config.trustedProxyHops);
    const refused = await rateLimit(identity, address);
    if (refused) throw rateLimitHttpError(refused);
    return { identity, requestId, clientAddress: address };
  };

  const subgraphHealth = new SubgraphHealth({
    // Only those of the supergraph being served: one that a new supergraph dropped is no one's concern.
    subgraphs: () => new Map([...subgraphUrls].filter(([name]) => gateway.loaded?.serviceMap[name] !== undefined)),
    internalSecret: config.internalSecret,
    registry: metrics.registry,
  });
  // Ready while it can plan and serve: a subgraph down only nulls that subgraph's fields, so it is reported, not fatal.
  const health = new Health(
    'gateway',
    {
      supergraph: async () => {
        if (!gateway.loaded) throw new Error('no supergraph loaded');
      },
    },
    { details: async () => ({ subgraphs: await subgraphHealth.check() }) },
  );

  const clientAddressOf = (req: IncomingMessage) => clientAddress(req, config.trustedProxyHops);
  const streamingRateLimit = async ({ identity, clientAddress: address }: { identity: Identity; clientAddress: string }) => {
    const refused = await rateLimit(identity, address);
    return refused && rateLimitGraphQLError(refused);
  };
  const operations = new StreamingOperations({
    apollo,
    federated,
    schema: () => apiSchema,
    admission,
    overloaded: () => overload.overloaded,
    rateLimit: streamingRateLimit,
    checkCost: (document, operationName, variables) => demandControl.check(document, operationName, variables).refusal,
    onRefused: (code) => refusals.inc({ code }),
    introspection: config.introspection,
    logger,
  });
  const connections = new ConnectionLimits({
    maxPerTenant: config.maxConnectionsPerTenant,
    maxAnonymousPerAddress: config.maxAnonymousConnectionsPerAddress,
    onCount: (open) => connectionGauge.set(open),
  });
  const server = createHttpServer({
    logger,
    metrics,
    knownPaths: ['/'],
    routes: [
      // Counts requests in progress for load shedding, and lets every request through to the routes below.
      (_req, res) => {
        peakRequestsInProgress = Math.max(peakRequestsInProgress, ++requestsInProgress);
        res.once('close', () => requestsInProgress--);
        return false;
      },
      healthRoutes(health, config.publicMetrics ? metrics : undefined, { token: config.metricsToken }),
      ...(config.explorer ? [landingPage(GRAPHQL_PATH)] : []),
      httpStreamRoutes({
        path: GRAPHQL_PATH,
        operations,
        connections,
        authenticate: (req) => authenticate(req, config.jwtSecret, runtime.now),
        clientAddressOf,
        maxBodyBytes: config.maxBodyBytes,
        logger,
        ...(runtime.now ? { now: runtime.now } : {}),
      }),
      graphqlRoute({
        apollo,
        context,
        admit: (request) =>
          admitHttpRequest(admission, request, (refusal) => refusals.inc({ code: refusal.code }), { knownOnly: overload.overloaded }),
        path: GRAPHQL_PATH,
        maxBodyBytes: config.maxBodyBytes,
      }),
    ],
  });
  const subscriptions = serveGatewaySubscriptions({
    server,
    path: GRAPHQL_PATH,
    operations,
    connections,
    schema: () => apiSchema,
    jwtSecret: config.jwtSecret,
    logger,
    clientAddressOf,
    rateLimit: streamingRateLimit,
    onRefused: (code) => refusals.inc({ code }),
    maxPayloadBytes: config.maxBodyBytes,
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    connectionInitWaitTimeoutMs: config.wsConnectionInitTimeoutMs,
    ...(runtime.now ? { now: runtime.now } : {}),
  });
  const stopEarly = async (error: unknown): Promise<never> => {
    await subscriptions.close();
    await apollo.stop();
    await rateLimits.close();
    throw error;
  };
  const http = await listen(server, config.port, config.host).catch(stopEarly);
  let admin: RunningHttpServer | undefined;
  if (config.admin) {
    const adminServer = createHttpServer({ logger, metrics, routes: [healthRoutes(health, metrics, { token: config.metricsToken })] });
    admin = await listen(adminServer, config.admin.port, config.admin.host).catch(async (error: unknown) => {
      await http.close(0);
      return stopEarly(error);
    });
  }
  overload.start();
  logger.info({ url: `${http.url}${GRAPHQL_PATH}`, admin: admin?.url, subgraphs: Object.fromEntries(subgraphUrls) }, 'gateway ready');

  return {
    url: http.url,
    graphqlUrl: `${http.url}${GRAPHQL_PATH}`,
    adminUrl: admin?.url,
    overload,
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
      await admin?.close(config.shutdownTimeoutMs);
      await apollo.stop();
      await Promise.all([...dataSources.values()].map((dataSource) => dataSource.close()));
      await rateLimits.close();
      overload.close();
      logger.info('gateway stopped');
    },
  };
}
