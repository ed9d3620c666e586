import { createHash } from 'node:crypto';
import type { GraphQLDataSource } from '@apollo/gateway';
import { DEFAULT_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlannerConfig } from '@apollo/query-planner';
import type { GraphQLSchema } from 'graphql';

/** The supergraph being served; queries and subscriptions plan and execute against the same objects. */
export interface LoadedSupergraph {
  /** The sha256 of its SDL: the same supergraph delivered again is not loaded again. */
  id: string;
  /** The API schema, as clients see it and as Apollo Server validates against. */
  schema: GraphQLSchema;
  apiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  supergraphSdl: string;
  /** The data sources of this supergraph's subgraphs, by name. */
  serviceMap: Record<string, { url: string; dataSource: GraphQLDataSource }>;
  recursiveSelectionsLimitDisabled: boolean;
  nonLocalSelectionsLimitDisabled: boolean;
}

export interface SupergraphLoadOptions {
  /** Validates the supergraph as stock does. @default true outside production */
  validateSupergraph?: boolean;
  queryPlannerConfig?: QueryPlannerConfig;
  /** The data source of a subgraph (kept or new), called for each of the supergraph's subgraphs. */
  dataSourceFor: (subgraph: { name: string; url: string }) => GraphQLDataSource;
}

/**
 * The environment switches @apollo/gateway reads (and reads itself, not through its config): read here alike, so that
 * this gateway stands in for stock wherever stock is given a supergraph, tests and benchmarks included.
 */
/* eslint-disable no-restricted-properties -- Apollo's own switches, not the gateway's configuration */
const apolloSwitches = {
  validateSupergraph: process.env.NODE_ENV !== 'production',
  recursiveSelectionsLimitDisabled: process.env.APOLLO_DISABLE_SECURITY_RECURSIVE_SELECTIONS_CHECK === 'true',
  nonLocalSelectionsLimitDisabled: process.env.APOLLO_DISABLE_SECURITY_NON_LOCAL_SELECTIONS_CHECK === 'true',
};
/* eslint-enable no-restricted-properties */

/**
 * The linked features a supergraph may use `for: SECURITY` or `for: EXECUTION` and still be served: stock's, and the
 * authorization directives, which the gateway enforces before planning (features/authorization.ts). A supergraph
 * linking any other such feature is refused, as the link spec asks of a gateway that does not implement it.
 */
export const SUPPORTED_SUPERGRAPH_FEATURES: ReadonlySet<string> = new Set([
  ...DEFAULT_SUPPORTED_SUPERGRAPH_FEATURES,
  'https://specs.apollo.dev/authenticated/v0.1',
  'https://specs.apollo.dev/requiresScopes/v0.1',
  'https://specs.apollo.dev/policy/v0.1',
]);

/**
 * A supergraph as stock @apollo/gateway serves it, for comparisons with stock (tests, benchmarks): the authorization
 * features linked without `for: SECURITY`, which stock refuses, so that it ignores their directives, as it enforces none.
 */
export function asStockServes(supergraphSdl: string): string {
  return supergraphSdl.replace(
    /@link\(url: "(https:\/\/specs\.apollo\.dev\/(?:authenticated|requiresScopes|policy)\/v[\d.]+)", for: SECURITY\)/g,
    '@link(url: "$1")',
  );
}

export function supergraphId(supergraphSdl: string): string {
  return createHash('sha256').update(supergraphSdl).digest('hex');
}

/**
 * What @apollo/gateway 2.14.4 builds from a supergraph SDL (`createSchemaFromSupergraphSdl`, `updateWithSchemaAndNotify`),
 * through the public API of @apollo/federation-internals and @apollo/query-planner: the same validation, data sources
 * built before the schemas, the same API schema, and the same environment switches for the planner's limits. Throws,
 * as stock does, for a supergraph that cannot be served; the one serving then stays in place.
 */
export function loadSupergraph(supergraphSdl: string, options: SupergraphLoadOptions): LoadedSupergraph {
  const supergraph = Supergraph.build(supergraphSdl, {
    supportedFeatures: SUPPORTED_SUPERGRAPH_FEATURES as Set<string>,
    validateSupergraph: options.validateSupergraph ?? apolloSwitches.validateSupergraph,
  });
  const serviceMap = Object.create(null) as LoadedSupergraph['serviceMap'];
  for (const { name, url } of supergraph.subgraphsMetadata()) serviceMap[name] = { url, dataSource: options.dataSourceFor({ name, url }) };
  const apiSchema = supergraph.apiSchema();
  // With @defer planned, clients may use it: the API schema declares it, as Apollo Router's does.
  const schema = apiSchema.toGraphQLJSSchema({ includeDefer: options.queryPlannerConfig?.incrementalDelivery?.enableDefer === true });
  // Plans are made on the planner workers, each with its own planner. This one is built, as stock builds it, only so
  // that a supergraph Apollo's planner cannot handle is refused here, before it replaces the one serving.
  new QueryPlanner(supergraph, options.queryPlannerConfig);
  return {
    id: supergraphId(supergraphSdl),
    schema,
    apiSchema,
    supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
    supergraphSdl,
    serviceMap,
    recursiveSelectionsLimitDisabled: apolloSwitches.recursiveSelectionsLimitDisabled,
    nonLocalSelectionsLimitDisabled: apolloSwitches.nonLocalSelectionsLimitDisabled,
  };
}
