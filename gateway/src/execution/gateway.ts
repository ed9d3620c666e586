import { ApolloGateway, type GatewayConfig, type GraphQLDataSource } from '@apollo/gateway';
import { buildOperationContext } from '@apollo/gateway/dist/operationContext.js';
import { operationFromDocument, type Schema } from '@apollo/federation-internals';
import type { QueryPlanner } from '@apollo/query-planner';
import type { GatewayExecutor } from '@apollo/server-gateway-interface';
import { getVariableValues } from 'graphql/execution/values.js';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { executePlan, type PreparedOperation } from './execute-plan.ts';

/** What ApolloGateway keeps about the loaded supergraph; queries and subscriptions plan and execute against the same objects. */
export interface LoadedSupergraph {
  schema: GraphQLSchema;
  apiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  queryPlanner: QueryPlanner;
  serviceMap: Record<string, { dataSource: GraphQLDataSource }>;
  recursiveSelectionsLimitDisabled: boolean;
  nonLocalSelectionsLimitDisabled: boolean;
}

export interface FastGatewayOptions {
  /** Prepared operations (plan, operation context, shaping operation) kept, least recently used dropped first. @default 1000 */
  preparedOperationCacheSize?: number;
}

/** Plans an operation and converts it for result shaping, once: what {@link executePlan} runs. */
export function prepareOperation(loaded: LoadedSupergraph, document: DocumentNode, operationName: string | undefined): PreparedOperation {
  const operationContext = buildOperationContext({ schema: loaded.schema, operationDocument: document, operationName });
  const planned = operationFromDocument(loaded.apiSchema, document, { operationName });
  const queryPlan = loaded.queryPlanner.buildQueryPlan(planned, {
    recursiveSelectionsLimitDisabled: loaded.recursiveSelectionsLimitDisabled,
    nonLocalSelectionsLimitDisabled: loaded.nonLocalSelectionsLimitDisabled,
  });
  // Result shaping reads the operation as stock converts it for that purpose: unvalidated, from the operation and its fragments.
  const shaping = operationFromDocument(
    loaded.apiSchema,
    { kind: document.kind, definitions: [operationContext.operation, ...Object.values(operationContext.fragments)] },
    { validate: false },
  );
  return { queryPlan, operationContext, operation: shaping };
}

/**
 * ApolloGateway with our executor: its supergraph loading, composition and query planner, unchanged, and
 * execution through {@link executePlan}. Per request, stock also hashes the query again for its plan cache
 * key, rebuilds the operation context and the service map, and converts the document for result shaping;
 * here all of that is prepared once per operation and kept.
 */
export class FastGateway extends ApolloGateway {
  constructor(config: GatewayConfig, options: FastGatewayOptions = {}) {
    super(config);
    const cacheSize = options.preparedOperationCacheSize ?? 1000;
    const loaded = this as unknown as LoadedSupergraph;
    const prepared = new Map<string, PreparedOperation>();
    let preparedFor: QueryPlanner | undefined;
    let serviceMap: Record<string, GraphQLDataSource> | undefined;

    const executor: GatewayExecutor = async (requestContext) => {
      if (preparedFor !== loaded.queryPlanner) {
        // A new supergraph: new plans, new data sources.
        prepared.clear();
        preparedFor = loaded.queryPlanner;
        serviceMap = undefined;
      }
      const { request, document, queryHash } = requestContext;
      const key = request.operationName ? `${queryHash}\u0000${request.operationName}` : queryHash;
      let operation = prepared.get(key);
      if (operation) {
        prepared.delete(key);
        prepared.set(key, operation);
      } else {
        operation = prepareOperation(loaded, document, request.operationName);
        prepared.set(key, operation);
        if (prepared.size > cacheSize) prepared.delete(prepared.keys().next().value!);
      }
      const variableDefinitions = operation.operationContext.operation.variableDefinitions;
      if (variableDefinitions && variableDefinitions.length > 0) {
        const { errors } = getVariableValues(operation.operationContext.schema, variableDefinitions, request.variables ?? {});
        if (errors) return { errors };
      }
      serviceMap ??= Object.fromEntries(Object.entries(loaded.serviceMap).map(([name, { dataSource }]) => [name, dataSource]));
      return executePlan(operation, serviceMap, requestContext, loaded.supergraphSchema);
    };
    (this as unknown as { executor: GatewayExecutor }).executor = executor;
  }

  /** The supergraph being served, once one is loaded. */
  get loaded(): LoadedSupergraph | undefined {
    const loaded = this as unknown as Partial<LoadedSupergraph>;
    return loaded.queryPlanner ? (loaded as LoadedSupergraph) : undefined;
  }
}
