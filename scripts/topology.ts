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
}

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
  }));
}
