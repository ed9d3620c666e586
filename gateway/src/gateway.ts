import type { IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { createLogger, Metrics, type Health, type Logger } from '@nexusflow/kit/core';
import { clientAddress } from './admission/client-address.ts';
import type { LoopReading, OverloadDetector } from './admission/overload.ts';
import { apiKeyLookup } from './api-keys.ts';
import type { MetricsOfAllWorkers } from './cluster.ts';
import type { GatewayConfig } from './config.ts';
import { FastGateway } from './execution/gateway.ts';
import { accessLog } from './features/access-log.ts';
import { loadAdmission } from './features/admission.ts';
import { auditRecorder, sensitiveFieldsOf } from './features/audit.ts';
import { authorization } from './features/authorization.ts';
import { apolloServer } from './features/apollo.ts';
import { gatewayHealth } from './features/health.ts';
import { adminServer, publicServer } from './features/http-servers.ts';
import { listenOnPorts } from './features/listening.ts';
import { loadShedding } from './features/load-shedding.ts';
import { gatewayMetrics } from './features/metrics.ts';
import { rateLimiting } from './features/rate-limiting.ts';
import { requestContext } from './features/request-context.ts';
import { shutDown } from './features/shutdown.ts';
import { Subgraphs } from './features/subgraphs.ts';
import { startStreaming } from './features/streaming.ts';
import { supergraphUpdates } from './features/supergraph-updates.ts';
import { gatewayTracing } from './features/tracing.ts';
import { usageReporter } from './features/usage-reporting.ts';
import { auditPlugin } from './plugins/audit.ts';
import { usagePlugin } from './plugins/usage.ts';
import { DemandControl } from './plugins/demand-control.ts';
import { withDeduplication } from './request-deduplication.ts';
import { sessionRevocation } from './session-revocation.ts';
import type { SupergraphUpdate } from './supergraph-source.ts';

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

/** Options for tests and tools, beside the configuration. */
export interface GatewayRuntimeOptions {
  /** The clock identity signatures and token expiries are read from. @default Date.now */
  now?: () => number;
  /** Readings of the event loop for load shedding, taken only when `overload.sample()` is called (tests). @default Node's monitors, every 100 ms */
  readLoop?: () => LoopReading;
  /** Where the gateway logs (tests read its access-log lines). @default standard output, at LOG_LEVEL */
  logger?: Logger;
  /** In a worker of the multi-process mode (./cluster.ts): what /metrics answers with instead of this process's series. */
  metricsOfAllWorkers?: (own: Registry) => MetricsOfAllWorkers;
}

/**
 * The gateway, composed from its features: each is a module of ./features (or of ./admission, ./execution and
 * ./subscriptions, which they wire), and this function only says which feeds which.
 */
export async function startGateway(config: GatewayConfig, runtime: GatewayRuntimeOptions = {}): Promise<RunningGateway> {
  const logger = runtime.logger ?? createLogger({ name: 'gateway', level: config.logLevel });
  const metrics = new Metrics('gateway');
  const tracing = gatewayTracing(config);
  const requestLog = accessLog(config, logger);
  const series = gatewayMetrics(metrics);
  const scrape = runtime.metricsOfAllWorkers?.(metrics.registry);
  const admission = await loadAdmission(config, logger);
  const shedding = loadShedding(config.loadSheddingDelayMs, runtime, logger, series);
  const demandControl = new DemandControl({
    ...config.demandControl,
    registry: metrics.registry,
    logger,
    onRefused: (code) => series.refusals.inc({ code }),
  });
  const subgraphs = new Subgraphs(config, runtime, series);
  const supergraph = supergraphUpdates(config.supergraphPath, config.supergraphPollIntervalMs, logger, series);

  const authorizationDirectives = authorization({ onRefused: (code) => series.refusals.inc({ code }) });

  const gateway = new FastGateway(
    { supergraphSdl: authorizationDirectives.watch(supergraph.source), buildService: subgraphs.buildService },
    { preparedOperationCacheBytes: config.planCacheBytes, operationTimeoutMs: config.operationTimeoutMs, planner: config.planner, logger },
  );
  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => demandControl.update(coreSupergraphSdl));
  const audit = auditRecorder(config, logger, metrics, { auditUrl: () => subgraphs.urls.get('audit'), now: runtime.now });
  const usage = usageReporter(config, logger, metrics, { analyticsUrl: () => subgraphs.urls.get('analytics'), now: runtime.now });
  let sensitiveFields = new Set<string>();
  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
    sensitiveFields = sensitiveFieldsOf(coreSupergraphSdl);
  });
  const apollo = apolloServer(authorizationDirectives.around(config.requestDeduplication ? withDeduplication(gateway) : gateway), config, {
    logger,
    metrics,
    demandControl,
    audit: audit && auditPlugin(audit, () => sensitiveFields),
    usage: usage && usagePlugin(usage, logger),
    observers: [...tracing.plugins, ...requestLog.plugins],
  });
  await apollo.start();

  const apiKeys = apiKeyLookup({
    authUrl: () => subgraphs.urls.get('auth'),
    internalSecret: config.internalSecret,
    cacheTtlMs: config.apiKeyCacheTtlMs,
    timeoutMs: config.subgraphClient.timeoutMs,
    ...(runtime.now ? { now: runtime.now } : {}),
  });
  const revokedSessions = sessionRevocation({
    redisUrl: config.redisUrl,
    redisNamespace: config.redisNamespace,
    authUrl: () => subgraphs.urls.get('auth'),
    supergraphLoaded: () => subgraphs.urls.size > 0,
    internalSecret: config.internalSecret,
    cacheMs: config.sessionRevocationCacheMs,
    logger,
    ...(runtime.now ? { now: runtime.now } : {}),
  });
  const rateLimits = rateLimiting(config.rateLimits, config.redisUrl, config.redisNamespace, logger, series);
  const health = gatewayHealth(gateway, subgraphs, config.internalSecret, metrics);
  const streaming = startStreaming({
    config,
    runtime,
    logger,
    metrics: series,
    gateway,
    apollo,
    schema: () => gateway.loaded?.schema,
    subgraphs,
    admission,
    overload: shedding.overload,
    demandControl,
    rateLimits,
    authorize: authorizationDirectives.authorize,
    clientAddressOf: (req: IncomingMessage) => clientAddress(req, config.trustedProxyHops),
    apiKeys,
    revokedSessions: revokedSessions.isRevoked,
  });
  const context = requestContext({
    jwtSecret: config.jwtSecret,
    apiKeys,
    revokedSessions: revokedSessions.isRevoked,
    trustedProxyHops: config.trustedProxyHops,
    now: runtime.now,
    shedding,
    rateLimits,
  });
  const server = publicServer({
    path: GRAPHQL_PATH,
    config,
    logger,
    metrics,
    gatewayMetrics: series,
    health,
    shedding,
    streaming,
    apollo,
    admission,
    context,
    scrape,
    observe: (route) => tracing.around(GRAPHQL_PATH, requestLog.around(route)),
  });
  const webSocket = streaming.serveWebSocket(server, GRAPHQL_PATH);

  const { http, admin } = await listenOnPorts(
    config,
    { public: server, admin: () => adminServer(health, metrics, config.metricsToken, logger, scrape) },
    async () => {
      await webSocket.close();
      await apollo.stop();
      await rateLimits.close();
      await revokedSessions.close();
    },
  );
  shedding.overload.start();
  logger.info({ url: `${http.url}${GRAPHQL_PATH}`, admin: admin?.url, subgraphs: Object.fromEntries(subgraphs.urls) }, 'gateway ready');

  return {
    url: http.url,
    graphqlUrl: `${http.url}${GRAPHQL_PATH}`,
    adminUrl: admin?.url,
    overload: shedding.overload,
    metrics,
    health,
    onSupergraphUpdate: supergraph.onUpdate,
    close: async () => {
      await shutDown({
        logger,
        health,
        webSocket,
        streaming,
        http,
        admin,
        apollo,
        subgraphs,
        rateLimits,
        shedding,
        timeoutMs: config.shutdownTimeoutMs,
      });
      await revokedSessions.close();
      await audit?.close();
      await usage?.close();
      await tracing.telemetry.shutdown();
    },
  };
}
