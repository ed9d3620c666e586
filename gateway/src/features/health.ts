import { Health, type Metrics } from '@nexusflow/kit/core';
import type { FastGateway } from '../execution/gateway.ts';
import { SubgraphHealth } from '../subgraph-health.ts';
import type { Subgraphs } from './subgraphs.ts';

/** Ready while it can plan and serve: a subgraph down only nulls that subgraph's fields, so it is reported, not fatal. */
export function gatewayHealth(gateway: FastGateway, subgraphs: Subgraphs, internalSecret: string, metrics: Metrics): Health {
  const subgraphHealth = new SubgraphHealth({
    // Only those of the supergraph being served: one that a new supergraph dropped is no one's concern.
    subgraphs: () => new Map([...subgraphs.urls].filter(([name]) => gateway.loaded?.serviceMap[name] !== undefined)),
    internalSecret,
    registry: metrics.registry,
  });
  return new Health(
    'gateway',
    {
      supergraph: async () => {
        if (!gateway.loaded) throw new Error('no supergraph loaded');
      },
    },
    { details: async () => ({ subgraphs: await subgraphHealth.check() }) },
  );
}
