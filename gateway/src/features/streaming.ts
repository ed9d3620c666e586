import type { Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import type { Logger, RouteHandler } from '@nexusflow/kit/core';
import type { Admission } from '../admission/admission.ts';
import type { OverloadDetector } from '../admission/overload.ts';
import type { ApiKeyLookup } from '../api-keys.ts';
import { authenticate } from '../authenticate.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import type { FastGateway } from '../execution/gateway.ts';
import type { GatewayRuntimeOptions } from '../gateway.ts';
import type { DemandControl } from '../plugins/demand-control.ts';
import type { Authorization } from './authorization.ts';
import { ConnectionLimits } from '../subscriptions/connection-limits.ts';
import { FederatedSubscriptions } from '../subscriptions/federated.ts';
import { httpStreamRoutes } from '../subscriptions/http-streams.ts';
import { StreamingOperations } from '../subscriptions/operations.ts';
import { serveGatewaySubscriptions } from '../subscriptions/server.ts';
import { UpstreamSubscriptions } from '../subscriptions/upstream.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { RateLimiting } from './rate-limiting.ts';
import type { SessionRevocationCheck } from '../session-revocation.ts';
import type { Subgraphs } from './subgraphs.ts';

export interface StreamingDependencies {
  config: GatewayConfig;
  runtime: GatewayRuntimeOptions;
  logger: Logger;
  metrics: GatewayMetrics;
  gateway: FastGateway;
  apollo: ApolloServer<GatewayContext>;
  /** The API schema being served, once loaded. */
  schema: () => GraphQLSchema | undefined;
  subgraphs: Subgraphs;
  admission: Admission;
  overload: OverloadDetector;
  demandControl: DemandControl;
  rateLimits: RateLimiting;
  /** The authorization directives, which subscriptions pass before they are planned, as queries do in the executor. */
  authorize: Authorization['authorize'];
  clientAddressOf: Parameters<typeof serveGatewaySubscriptions>[0]['clientAddressOf'];
  apiKeys: ApiKeyLookup;
  revokedSessions: SessionRevocationCheck;
}

export interface Streaming {
  /** Server-Sent Events and multipart HTTP, on the GraphQL path. */
  httpRoutes(path: string): RouteHandler;
  /** graphql-ws on the GraphQL path of `server`. */
  serveWebSocket(server: Server, path: string): { close(): Promise<void> };
  /** Ends the subscriptions held on subgraphs. */
  close(): Promise<void>;
}

/**
 * Long-lived operations (subscriptions across subgraphs, and queries and mutations over WebSocket and streams), every
 * one through the same edge as HTTP requests, and the caps on long-lived connections.
 */
export function startStreaming(deps: StreamingDependencies): Streaming {
  const { config, runtime, logger, metrics, gateway, subgraphs } = deps;
  const upstreams = new UpstreamSubscriptions({
    internalSecret: config.internalSecret,
    logger,
    reconnect: config.upstreamReconnect,
    onCount: (open) => metrics.upstreamSubscriptions.set(open),
    onReconnect: (url) => metrics.upstreamReconnects.inc({ subgraph: subgraphs.nameOf(url) }),
  });
  const onRefused = (code: string) => metrics.refusals.inc({ code });
  const federated = new FederatedSubscriptions({
    supergraph: () => gateway.loaded,
    prepare: (document, source, operationName) => gateway.prepare(document, source, operationName),
    upstreams,
    dataSources: subgraphs.dataSources,
    sharedAcrossUsers: config.subscriptionsSharedAcrossUsers,
    authorize: deps.authorize,
    checkCost: (document, operationName, variables) =>
      deps.demandControl.check(document, operationName, variables, { again: true }).refusal,
    logger,
    onEventResolved: () => metrics.eventsResolved.inc(),
    onWithdrawn: onRefused,
  });
  // A new supergraph moves the open subscriptions onto it (re-planned, or ended when no longer valid), not drops them.
  const stopFollowingSupergraph = gateway.onSchemaLoadOrUpdate(() => {
    federated
      .reload()
      .catch((error: unknown) => logger.error({ err: error }, 'open subscriptions could not be moved to the new supergraph'));
  });
  const operations = new StreamingOperations({
    apollo: deps.apollo,
    federated,
    schema: deps.schema,
    admission: deps.admission,
    overloaded: () => deps.overload.overloaded,
    rateLimit: deps.rateLimits.checkStreaming,
    checkCost: (document, operationName, variables) => deps.demandControl.check(document, operationName, variables).refusal,
    authorize: deps.authorize,
    onRefused,
    introspection: config.introspection,
    logger,
  });
  const connections = new ConnectionLimits({
    maxPerTenant: config.maxConnectionsPerTenant,
    maxAnonymousPerAddress: config.maxAnonymousConnectionsPerAddress,
    onCount: (open) => metrics.connections.set(open),
  });
  const now = runtime.now ? { now: runtime.now } : {};
  return {
    httpRoutes: (path) =>
      httpStreamRoutes({
        path,
        operations,
        connections,
        authenticate: (req) => authenticate(req, config.jwtSecret, runtime.now, deps.apiKeys, deps.revokedSessions),
        clientAddressOf: deps.clientAddressOf,
        maxBodyBytes: config.maxBodyBytes,
        rateLimit: deps.rateLimits.checkStreaming,
        revokedSessions: deps.revokedSessions,
        reservationTimeoutMs: config.sseReservationTimeoutMs,
        multipartHeartbeatMs: config.multipartHeartbeatMs,
        maxBufferedBytes: config.wsMaxBufferedBytes,
        maxOperationsPerReservation: config.maxSubscriptionsPerConnection,
        logger,
        ...now,
      }),
    serveWebSocket: (server, path) =>
      serveGatewaySubscriptions({
        server,
        path,
        operations,
        connections,
        schema: deps.schema,
        jwtSecret: config.jwtSecret,
        apiKeys: deps.apiKeys,
        revokedSessions: deps.revokedSessions,
        logger,
        clientAddressOf: deps.clientAddressOf,
        rateLimit: deps.rateLimits.checkStreaming,
        onRefused,
        maxPayloadBytes: config.maxBodyBytes,
        maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
        connectionInitWaitTimeoutMs: config.wsConnectionInitTimeoutMs,
        maxBufferedBytes: config.wsMaxBufferedBytes,
        ...now,
      }),
    close: () => {
      stopFollowingSupergraph();
      return upstreams.dispose();
    },
  };
}
