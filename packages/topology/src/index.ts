import { nexusCos } from './nexus-cos.ts';
import { nexusflow } from './nexusflow.ts';
import {
  DEPLOYMENT_TIERS,
  type DeploymentTier,
  type GraphTopology,
  type LinkVariable,
  type ServiceResources,
  type ServiceTopology,
} from './types.ts';

export { DEPLOYMENT_TIERS } from './types.ts';
export type { DeploymentTier, GraphTopology, LinkVariable, ServiceResources, ServiceTopology } from './types.ts';

/**
 * Every graph this repository serves, by name. The launcher, the compose config (`schema/<graph>/supergraph.yaml`),
 * docker-compose.yml's check and each service's default URLs of the services it calls all derive from this.
 */
export const topology = { nexusflow, 'nexus-cos': nexusCos } as const satisfies Record<string, GraphTopology>;

export type GraphName = keyof typeof topology;
type ServicesOf<G extends GraphName> = (typeof topology)[G]['services'];
export type ServiceName<G extends GraphName> = keyof ServicesOf<G> & string;
type CallsOf<G extends GraphName, S extends ServiceName<G>> = ServicesOf<G>[S] extends { calls: readonly (infer C extends string)[] }
  ? C
  : never;

export const graphNames = Object.keys(topology) as GraphName[];

export function isGraphName(name: string): name is GraphName {
  return Object.hasOwn(topology, name);
}

/** The graphs a `--graph` option names, every graph when it names none; an unknown name is refused with the known ones. */
export function selectGraphs(requested: readonly string[] | undefined): GraphName[] {
  if (!requested || requested.length === 0) return graphNames;
  const unknown = requested.filter((name) => !isGraphName(name));
  if (unknown.length > 0)
    throw new Error(`Unknown graph ${unknown.map((name) => `"${name}"`).join(', ')}; graphs: ${graphNames.join(', ')}`);
  return requested as GraphName[];
}

/** Where a service listens on this machine by default. */
export function defaultServiceUrl(port: number): string {
  return `http://127.0.0.1:${port}/graphql`;
}

/**
 * A catalogue port of `graph` as `npm start` runs it on one machine with every other graph: moved by the graph's
 * {@link GraphTopology.localPortOffset}, since the catalogues of two graphs share ports (a container keeps the catalogue port).
 */
export function localPort(graph: GraphName, port: number): number {
  return port + ((topology[graph] as GraphTopology).localPortOffset ?? 0);
}

/** Where a tier stands in the deployment order, from 0 (`core`). */
export const tierRank = (tier: DeploymentTier): number => DEPLOYMENT_TIERS.indexOf(tier);

/** Where the gateway of `graph` stands in the deployment order: at its tier, or after every tier when it has none. */
export function gatewayRank(graph: GraphName): number {
  const tier = (topology[graph] as GraphTopology).gatewayTier;
  return tier === undefined ? DEPLOYMENT_TIERS.length : tierRank(tier);
}

/** What the gateway of `graph` is called in deployments, e.g. Nexus COS's `backend-api`. */
export function gatewayNameOf(graph: GraphName): string {
  return (topology[graph] as GraphTopology).gatewayName ?? 'gateway';
}

export function linkVariable<S extends string>(service: S): LinkVariable<S> {
  return `${service.toUpperCase().replaceAll('-', '_')}_URL` as LinkVariable<S>;
}

/** The gateway's variable overriding the routing URL of a service, e.g. `SUBGRAPH_CONTENT_DELIVERY_URL`. */
export function subgraphRouteVariable(service: string): string {
  return `SUBGRAPH_${linkVariable(service)}`;
}

/** The database a service owns on a shared PostgreSQL server, e.g. `nexusflow_auth`, `nexus_cos_content_delivery`. */
export function databaseName(graph: string, service: string): string {
  return `${graph}_${service}`.replaceAll('-', '_');
}

/** One service as the processes that run it see it. */
export interface ServiceDescription {
  graph: GraphName;
  name: string;
  /** Its catalogue port, in its container. */
  port: number;
  /** Where it listens when `npm start` runs every graph on one machine ({@link localPort}). */
  localPort: number;
  tier: DeploymentTier;
  resources: ServiceResources | undefined;
  database: string;
  secrets: readonly string[];
  /** The services it calls, by the variable that holds each one's URL. */
  links: Record<string, string>;
  usesRabbitMq: boolean;
  optionalVariables: readonly string[];
  /** Why it is given a variable, by the variable's name. */
  notes: Readonly<Record<string, string>>;
  /** Routes callers outside reach directly, not through the gateway, with what each is for. */
  publicRoutes: Readonly<Record<string, string>>;
}

export function describeService(graph: GraphName, name: string): ServiceDescription {
  const service: ServiceTopology | undefined = (topology[graph].services as Record<string, ServiceTopology>)[name];
  if (!service) throw new Error(`No service "${name}" in graph "${graph}"`);
  return {
    graph,
    name,
    port: service.port,
    localPort: localPort(graph, service.port),
    tier: service.tier ?? 'business',
    resources: service.resources ?? (topology[graph] as GraphTopology).resources,
    database: databaseName(graph, name),
    secrets: service.secrets ?? [],
    links: Object.fromEntries((service.calls ?? []).map((called) => [linkVariable(called), called])),
    usesRabbitMq: service.usesRabbitMq ?? false,
    optionalVariables: service.optionalVariables ?? [],
    notes: service.notes ?? {},
    publicRoutes: service.publicRoutes ?? {},
  };
}

export function servicesOf(graph: GraphName): ServiceDescription[] {
  return Object.keys(topology[graph].services).map((name) => describeService(graph, name));
}

/**
 * What a service's configuration needs from the topology: its default port and, for each service it calls, the
 * variable naming that service's URL with its local default (both the ports `npm start` gives them on this machine).
 */
export function serviceDefaults<G extends GraphName, S extends ServiceName<G>>(
  graph: G,
  name: S,
): { name: S; port: number; namespace: G; links: Record<LinkVariable<CallsOf<G, S>>, string> } {
  const service = describeService(graph, name);
  const services = topology[graph].services as Record<string, ServiceTopology>;
  const links = Object.fromEntries(
    Object.entries(service.links).map(([variable, called]) => [variable, defaultServiceUrl(localPort(graph, services[called]!.port))]),
  );
  return { name, port: service.localPort, namespace: graph, links: links as Record<LinkVariable<CallsOf<G, S>>, string> };
}

/** Where a service that signs a graph's access tokens publishes its keys, and answers whether a token is revoked. */
export const JWKS_PATH = '/.well-known/jwks.json';
export const REVOCATIONS_PATH = '/revocations/';

/** How the gateway of `graph` verifies access tokens, when a service of the graph signs them with asymmetric keys. */
export function accessTokenIssuerOf(graph: GraphName): { service: ServiceDescription; issuer: string; audience: string } | undefined {
  const accessTokens = (topology[graph] as GraphTopology).accessTokens;
  if (!accessTokens) return undefined;
  return {
    service: describeService(graph, accessTokens.jwksFrom),
    issuer: accessTokens.issuer,
    audience: accessTokens.audience,
  };
}
