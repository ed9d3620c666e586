import { fileURLToPath } from 'node:url';
import { readSupergraphConfig } from '@nexusflow/schema-registry';

export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
export const supergraphConfigFile = fileURLToPath(new URL('../schema/supergraph.yaml', import.meta.url));
/** What `npm run schema:publish` last published: the supergraph production serves. */
export const PUBLISHED_SUPERGRAPH = fileURLToPath(new URL('../schema/registry/published/supergraph.graphql', import.meta.url));

export interface SubgraphProcess {
  name: string;
  /** Entry point, relative to the repository root. */
  entry: string;
  /** The catalogue port, taken from the routing URL in schema/supergraph.yaml. */
  port: number;
  /** The database it owns on a shared PostgreSQL server. */
  database: string;
  /** Variables it needs beyond the ones every subgraph reads. */
  secrets: string[];
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
  port: 8000,
  /**
   * A V8 heap budget: left to its defaults, V8 lets a busy gateway's heap grow to several times what it keeps alive
   * before collecting, and the process's memory with it (bench/gateway.ts measures both ways).
   */
  nodeOptions: ['--max-old-space-size=512'],
} as const;

/**
 * What every process of the production topology runs with, under `npm run start:prod` as in docker-compose.yml
 * (test/docker-compose.test.ts checks): production configuration refuses to run on the public development secrets.
 */
export const PRODUCTION_ENVIRONMENT = { NODE_ENV: 'production' } as const;

/** Secrets each service reads, beyond INTERNAL_SECRET which they all share. */
const extraSecrets: Record<string, string[]> = { auth: ['JWT_SECRET'] };

/** Subgraphs that call another subgraph directly (not through the gateway), and the variable that says where. */
const extraLinks: Record<string, Record<string, string>> = {
  notifications: { AUTH_URL: 'auth' },
  scheduler: { WORKFLOWS_URL: 'workflows' },
  workflows: { NOTIFICATIONS_URL: 'notifications' },
};

/**
 * The deployable topology, derived from schema/supergraph.yaml so that the launcher,
 * docker-compose.yml and the gateway cannot disagree about which services exist and where.
 */
export async function readTopology(): Promise<SubgraphProcess[]> {
  const subgraphs = await readSupergraphConfig(supergraphConfigFile);
  return subgraphs.map(({ name, url }) => ({
    name,
    entry: `subgraphs/${name}/src/main.ts`,
    port: Number(new URL(url).port),
    database: `nexusflow_${name}`,
    secrets: extraSecrets[name] ?? [],
    links: extraLinks[name] ?? {},
    nodeOptions: heapBudget(SUBGRAPH_HEAP_BUDGET_MB),
  }));
}
