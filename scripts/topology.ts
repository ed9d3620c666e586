import { fileURLToPath } from 'node:url';
import { servicesOf, topology, type GraphName } from '@nexusflow/topology';

export { selectGraphs } from '@nexusflow/topology';

export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

/** Where a graph's schema files live: supergraph config, composed supergraph, API schema and registry. */
export const schemaDirectory = (graph: GraphName) => fileURLToPath(new URL(`../schema/${graph}/`, import.meta.url));
export const supergraphConfigFile = (graph: GraphName) => `${schemaDirectory(graph)}supergraph.yaml`;
/** What `npm run schema:publish` last published: the supergraph production serves. */
export const publishedSupergraph = (graph: GraphName) => `${schemaDirectory(graph)}registry/published/supergraph.graphql`;

export interface SubgraphProcess {
  graph: GraphName;
  name: string;
  /** Entry point, relative to the repository root. */
  entry: string;
  port: number;
  /** The database it owns on a shared PostgreSQL server. */
  database: string;
  /** Variables it needs beyond the ones every subgraph reads. */
  secrets: readonly string[];
  /** Variables holding the GraphQL URL of another subgraph it calls, by variable name. */
  links: Record<string, string>;
  /** Given to node before the entry point: the subgraph's heap budget ({@link SUBGRAPH_HEAP_BUDGET_MB}). */
  nodeOptions: readonly string[];
}

/** V8's flag for the size of its old generation, which is what bounds a long-running Node process's heap. */
export const heapBudget = (megabytes: number): string[] => [`--max-old-space-size=${megabytes}`];

/**
 * Each subgraph process's V8 heap budget. As for the gateway, V8's default lets the heap of a busy process grow far
 * past what it keeps alive before collecting (subgraphs swung between 150 and 460 MB of RSS under a soak). A subgraph
 * uses 57–68 MB of heap idle and at most 125 MB serving 150 requests/s through the gateway, so 256 MB leaves it room
 * while keeping the process's memory predictable.
 */
export const SUBGRAPH_HEAP_BUDGET_MB = 256;

/** The embedded topology's one process hosting every subgraph (scripts/embedded-host.ts) gets the budget of them all. */
export const embeddedHostNodeOptions = (subgraphs: readonly SubgraphProcess[]): string[] =>
  heapBudget(SUBGRAPH_HEAP_BUDGET_MB * subgraphs.length);

export const GATEWAY = {
  name: 'gateway',
  entry: 'gateway/src/main.ts',
  /**
   * A V8 heap budget: left to its defaults, V8 lets a busy gateway's heap grow to several times what it keeps alive
   * before collecting, and the process's memory with it (bench/gateway.ts measures both ways).
   */
  nodeOptions: ['--max-old-space-size=512'],
} as const;

/** The port of the gateway serving `graph`. */
export const gatewayPort = (graph: GraphName): number => topology[graph].gatewayPort;

/**
 * What every process of the production topology runs with, under `npm run start:prod` as in docker-compose.yml
 * (test/docker-compose.test.ts checks): production configuration refuses to run on the public development secrets.
 */
export const PRODUCTION_ENVIRONMENT = { NODE_ENV: 'production' } as const;

/** The subgraph processes of `graph`, as packages/topology describes them. */
export function readTopology(graph: GraphName = 'nexusflow'): SubgraphProcess[] {
  return servicesOf(graph).map(({ name, port, database, secrets, links }) => ({
    graph,
    name,
    entry: `subgraphs/${graph}/${name}/src/main.ts`,
    port,
    database,
    secrets,
    links,
    nodeOptions: heapBudget(SUBGRAPH_HEAP_BUDGET_MB),
  }));
}
