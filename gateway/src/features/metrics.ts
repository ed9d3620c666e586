import { Counter, Gauge } from 'prom-client';
import type { Metrics } from '@nexusflow/kit/core';

/** The gateway's own series, beside the HTTP and GraphQL ones every service exports. */
export function gatewayMetrics(metrics: Metrics) {
  const registers = [metrics.registry];
  return {
    refusals: new Counter({
      name: 'gateway_operations_refused_total',
      help: 'Operations refused before execution (limits, cost, trusted documents, rate limits), by code',
      labelNames: ['code'] as const,
      registers,
    }),
    loadShedding: new Gauge({
      name: 'gateway_load_shedding',
      help: '1 while the event loop is overloaded and new documents are shed',
      registers,
      // Across the workers of the multi-process mode: 1 while any of them sheds (the others are summed).
      aggregator: 'max',
    }),
    upstreamSubscriptions: new Gauge({
      name: 'gateway_upstream_subscriptions',
      help: 'Subscriptions the gateway holds on subgraphs',
      registers,
    }),
    connections: new Gauge({
      name: 'gateway_websocket_connections',
      help: 'Open long-lived GraphQL connections: WebSocket connections, and Server-Sent Event and multipart streams',
      registers,
    }),
    upstreamReconnects: new Counter({
      name: 'gateway_upstream_reconnects_total',
      help: 'WebSocket connections to subgraphs re-established after they dropped, by subgraph',
      labelNames: ['subgraph'] as const,
      registers,
    }),
    eventsResolved: new Counter({
      name: 'gateway_subscription_events_resolved_total',
      help: 'Upstream subscription events for which the rest of the query plan ran, once per group of identical subscriptions',
      registers,
    }),
    supergraphUpdates: new Counter({
      name: 'supergraph_updates_total',
      help: 'Attempts to switch to a new supergraph, by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
