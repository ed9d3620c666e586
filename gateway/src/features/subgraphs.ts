import type { ServiceEndpointDefinition } from '@apollo/gateway';
import { subgraphUrlKey, type GatewayConfig } from '../config.ts';
import type { GatewayRuntimeOptions } from '../gateway.ts';
import { SubgraphDataSource } from '../subgraph-data-source.ts';
import type { GatewayMetrics } from './metrics.ts';

/**
 * The gateway's connections to its subgraphs: one {@link SubgraphDataSource} (a connection pool) per subgraph, at the
 * URL the configuration gives it or, failing that, the supergraph's.
 */
export class Subgraphs {
  /** The routing URL of every subgraph a supergraph named, by name. */
  readonly urls = new Map<string, string>();
  readonly dataSources = new Map<string, SubgraphDataSource>();

  constructor(
    private readonly config: Pick<GatewayConfig, 'subgraphUrls' | 'internalSecret' | 'subgraphClient' | 'shutdownTimeoutMs'>,
    private readonly runtime: GatewayRuntimeOptions,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** The data source of a subgraph a supergraph names: @apollo/gateway's `buildService`. */
  readonly buildService = ({ name, url }: ServiceEndpointDefinition): SubgraphDataSource => {
    const routingUrl = this.config.subgraphUrls[subgraphUrlKey(name)] ?? url;
    if (!routingUrl) throw new Error(`Subgraph ${name} has no routing URL; set SUBGRAPH_${name.toUpperCase()}_URL`);
    this.urls.set(name, routingUrl);
    // Exported at 0 from the start, so that rate() and alerts see a series before the first reconnection.
    this.metrics.upstreamReconnects.inc({ subgraph: name }, 0);
    // A new supergraph keeps the connection pool of a subgraph whose URL did not change.
    const existing = this.dataSources.get(name);
    if (existing?.url === routingUrl) return existing;
    // Operations planned on the previous supergraph may still fetch through the old pool for a while.
    if (existing) setTimeout(() => void existing.close(), this.config.shutdownTimeoutMs).unref();
    const dataSource = new SubgraphDataSource(routingUrl, name, this.config.internalSecret, {
      ...this.config.subgraphClient,
      ...(this.runtime.now ? { now: this.runtime.now } : {}),
    });
    this.dataSources.set(name, dataSource);
    return dataSource;
  };

  /** Upstream subscriptions know their subgraph by URL; metrics name it by service, unless a new supergraph dropped it. */
  nameOf(url: string): string {
    return [...this.urls].find(([, routingUrl]) => routingUrl === url)?.[0] ?? url;
  }

  async close(): Promise<void> {
    await Promise.all([...this.dataSources.values()].map((dataSource) => dataSource.close()));
  }
}
