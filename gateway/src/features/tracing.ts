import type { ApolloServerPlugin } from '@apollo/server';
import { createTelemetry, graphqlSpanPlugin, tracedRoute, type RouteHandler, type Telemetry } from '@nexusflow/kit/core';
import { trace } from '@opentelemetry/api';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';

/** The headers Apollo's clients name themselves by, which Apollo Router and GraphOS read too. */
export const CLIENT_NAME_HEADER = 'apollographql-client-name';
export const CLIENT_VERSION_HEADER = 'apollographql-client-version';

export interface GatewayTracing {
  telemetry: Telemetry;
  /**
   * The route serving `path` in a server span that continues the caller's trace (`traceparent`), with the gateway's
   * tracer active, so that planning, execution and each subgraph fetch are its children. Off: the route itself.
   */
  around(path: string, route: RouteHandler): RouteHandler;
  /** What the request's span says about its operation: name, type, document hash, client, error codes. None when off. */
  plugins: ApolloServerPlugin<GatewayContext>[];
}

/**
 * The gateway's traces, as Apollo Router and Hive Gateway have them: a server span per request (the GraphQL operation's
 * name, type and document hash on it), `graphql.plan` when the operation is planned, `graphql.execute`, and a client
 * span per subgraph fetch carrying the W3C trace context to the subgraph, whose spans (SQL, events) continue the trace.
 */
export function gatewayTracing(config: Pick<GatewayConfig, 'tracing'>): GatewayTracing {
  const telemetry = createTelemetry(config.tracing);
  if (!telemetry.tracer) return { telemetry, around: (_path, route) => route, plugins: [] };
  return {
    telemetry,
    around: (path, route) => tracedRoute(telemetry, path, route),
    plugins: [graphqlSpanPlugin<GatewayContext>(), requestAttributes()],
  };
}

function requestAttributes(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request }) {
      const span = trace.getActiveSpan();
      if (!span) return;
      const clientName = request.http?.headers.get(CLIENT_NAME_HEADER);
      const clientVersion = request.http?.headers.get(CLIENT_VERSION_HEADER);
      if (clientName) span.setAttribute('client.name', clientName);
      if (clientVersion) span.setAttribute('client.version', clientVersion);
      return {
        async didResolveSource({ queryHash }) {
          span.setAttribute('graphql.document.hash', queryHash);
        },
        async didResolveOperation({ contextValue }) {
          const { identity } = contextValue;
          if (identity.kind === 'user') span.setAttribute('nexusflow.tenant.id', identity.tenantId);
        },
      };
    },
  };
}
