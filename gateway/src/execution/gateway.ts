import { createHash } from 'node:crypto';
import { ApolloGateway, type GatewayConfig, type GraphQLDataSource } from '@apollo/gateway';
import { buildOperationContext } from '@apollo/gateway/dist/operationContext.js';
import { operationFromDocument, type Schema } from '@apollo/federation-internals';
import type { QueryPlanner } from '@apollo/query-planner';
import type { GatewayExecutor, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { createLogger, ErrorCode, type Logger } from '@nexusflow/kit/core';
import { getVariableValues } from 'graphql/execution/values.js';
import { GraphQLError, print, type DocumentNode, type GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { GatewayContext } from '../context.ts';
import { executePlan, type PreparedOperation } from './execute-plan.ts';
import { resolveOperation } from './operation-resolution.ts';
import { PlannerPool, PlanningFailure, type PlannerPoolOptions } from './planner-pool.ts';

/** What ApolloGateway keeps about the loaded supergraph; queries and subscriptions plan and execute against the same objects. */
export interface LoadedSupergraph {
  schema: GraphQLSchema;
  apiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  supergraphSdl: string;
  queryPlanner: QueryPlanner;
  serviceMap: Record<string, { dataSource: GraphQLDataSource }>;
  recursiveSelectionsLimitDisabled: boolean;
  nonLocalSelectionsLimitDisabled: boolean;
}

export interface FastGatewayOptions {
  /** Approximate memory the prepared operations (plans, operation contexts, shaping operations) may hold, in bytes. @default 64 MiB */
  preparedOperationCacheBytes?: number;
  /** An operation that has not finished within this (planning included) is answered GATEWAY_TIMEOUT. 0: no limit. @default 30000 */
  operationTimeoutMs?: number;
  planner?: Omit<PlannerPoolOptions, 'logger'>;
  /** @default silent */
  logger?: Logger;
}

/** The answer to a subscription sent as a plain JSON request: the ways to subscribe. */
export const SUBSCRIPTION_TRANSPORTS =
  'Subscriptions are served at this same URL over WebSocket (graphql-transport-ws), Server-Sent Events (Accept: text/event-stream; the graphql-sse protocol) and multipart HTTP (Accept: multipart/mixed;subscriptionSpec="1.0"), not as a plain JSON request';

/** A prepared operation, or why the operation cannot be planned (kept, so that a refused document is refused cheaply again). */
type PreparedOrRefused = PreparedOperation | GraphQLError;

/**
 * A prepared operation holds about this many bytes per byte of its document, besides its plan: measured on
 * cross-subgraph documents (the shaping operation of @apollo/federation-internals is most of it).
 */
const PREPARED_BYTES_PER_SOURCE_BYTE = 200;

/** What a refused or failed planning answers: the document's fault is a 400; the gateway's own state a 503. */
function planningError(failure: PlanningFailure): GraphQLError {
  if (!failure.causedByDocument) {
    return new GraphQLError('The gateway cannot plan operations at the moment; try again shortly', {
      extensions: { code: ErrorCode.ServiceUnavailable, http: { status: 503 } },
    });
  }
  const reason =
    failure.reason === 'planner'
      ? // The planner's own messages describe the operation (which fields, which limit), never the gateway.
        failure.message.split('\n')[0]!.slice(0, 300)
      : failure.message;
  return new GraphQLError(`This operation cannot be planned: ${reason}`, {
    extensions: { code: ErrorCode.QueryPlanningFailed, http: { status: 400 } },
  });
}

function timeoutError(timeoutMs: number): GraphQLError {
  return new GraphQLError(`The operation did not finish within ${timeoutMs} ms`, {
    extensions: { code: ErrorCode.GatewayTimeout, http: { status: 504 } },
  });
}

/**
 * ApolloGateway with our executor: its supergraph loading, composition and query planner, unchanged, with planning
 * moved to worker threads ({@link PlannerPool}) and execution through {@link executePlan}. Per request, stock also
 * hashes the query again for its plan cache key, rebuilds the operation context and the service map, and converts
 * the document for result shaping; here all of that is prepared once per operation and kept, in a cache bounded by
 * memory rather than by count, so that a thousand huge plans cannot hold as much as a thousand small ones.
 */
export class FastGateway extends ApolloGateway {
  private readonly planners: PlannerPool;
  private readonly prepared: LRUCache<string, PreparedOrRefused>;
  private readonly inFlight = new Map<string, Promise<PreparedOrRefused>>();
  private plannedFor: QueryPlanner | undefined;
  private generation = 0;
  private executionServices: Record<string, GraphQLDataSource> | undefined;

  constructor(config: GatewayConfig, options: FastGatewayOptions = {}) {
    super(config);
    this.planners = new PlannerPool({ ...options.planner, logger: options.logger ?? createLogger({ name: 'gateway', level: 'silent' }) });
    this.prepared = new LRUCache<string, PreparedOrRefused>({
      maxSize: options.preparedOperationCacheBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (entry, key) => key.length + (entry instanceof GraphQLError ? entry.message.length : entry.approximateBytes),
    });
    const timeoutMs = options.operationTimeoutMs ?? 30_000;
    const executor: GatewayExecutor = async (requestContext) => {
      const run = this.execute(requestContext as GatewayGraphQLRequestContext<GatewayContext>);
      if (timeoutMs <= 0) return run;
      const deadline = new AbortController();
      (requestContext.context as Partial<GatewayContext>).deadline = deadline.signal;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          deadline.abort();
          reject(timeoutError(timeoutMs));
        }, timeoutMs);
      });
      try {
        return await Promise.race([run, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    };
    (this as unknown as { executor: GatewayExecutor }).executor = executor;
  }

  private async execute(requestContext: GatewayGraphQLRequestContext<GatewayContext>) {
    const loaded = this.loaded!;
    const { request, document, queryHash, source } = requestContext;
    resolveOperation(document, request.operationName ?? undefined);
    const operation = await this.prepare(document, source ?? print(document), request.operationName ?? undefined, queryHash);
    if (operation.queryPlan.node?.kind === 'Subscription') {
      throw new GraphQLError(SUBSCRIPTION_TRANSPORTS, {
        extensions: { code: ErrorCode.BadRequest, http: { status: 400 } },
      });
    }
    const variableDefinitions = operation.operationContext.operation.variableDefinitions;
    if (variableDefinitions && variableDefinitions.length > 0) {
      const { errors } = getVariableValues(operation.operationContext.schema, variableDefinitions, request.variables ?? {});
      if (errors) return { errors };
    }
    this.executionServices ??= Object.fromEntries(Object.entries(loaded.serviceMap).map(([name, { dataSource }]) => [name, dataSource]));
    return executePlan(operation, this.executionServices, requestContext, loaded.supergraphSchema);
  }

  /**
   * The prepared operation for a validated document: from the cache, from a planning already in flight for the
   * same document, or planned now on a worker. Throws a GraphQLError (with its HTTP status) when it cannot be planned.
   */
  async prepare(
    document: DocumentNode,
    source: string,
    operationName: string | undefined,
    sourceHash?: string,
  ): Promise<PreparedOperation> {
    const loaded = this.loaded;
    if (!loaded)
      throw new GraphQLError('No supergraph loaded yet', { extensions: { code: ErrorCode.ServiceUnavailable, http: { status: 503 } } });
    this.followSupergraph(loaded);
    const hash = sourceHash ?? createHash('sha256').update(source).digest('hex');
    const key = operationName ? `${hash}\u0000${operationName}` : hash;
    let entry = this.prepared.get(key);
    if (!entry) {
      let pending = this.inFlight.get(key);
      if (!pending) {
        const generation = this.generation;
        pending = this.plan(loaded, document, source, operationName, generation)
          .then((prepared) => {
            if (generation === this.generation) this.prepared.set(key, prepared);
            return prepared;
          })
          .finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, pending);
      }
      entry = await pending;
    }
    if (entry instanceof GraphQLError) throw entry;
    return entry;
  }

  /** A new supergraph: new plans, new data sources, new planners. */
  private followSupergraph(loaded: LoadedSupergraph): void {
    if (this.plannedFor === loaded.queryPlanner) return;
    this.plannedFor = loaded.queryPlanner;
    this.prepared.clear();
    this.executionServices = undefined;
    this.generation = this.planners.load(loaded.supergraphSdl);
  }

  private async plan(
    loaded: LoadedSupergraph,
    document: DocumentNode,
    source: string,
    operationName: string | undefined,
    generation: number,
  ): Promise<PreparedOrRefused> {
    let queryPlan;
    try {
      queryPlan = await this.planners.plan({
        type: 'plan',
        generation,
        source,
        ...(operationName ? { operationName } : {}),
        options: {
          recursiveSelectionsLimitDisabled: loaded.recursiveSelectionsLimitDisabled,
          nonLocalSelectionsLimitDisabled: loaded.nonLocalSelectionsLimitDisabled,
        },
      });
    } catch (error) {
      if (!(error instanceof PlanningFailure)) throw error;
      const refusal = planningError(error);
      if (!error.causedByDocument) throw refusal;
      return refusal;
    }
    const operationContext = buildOperationContext({ schema: loaded.schema, operationDocument: document, operationName });
    // Result shaping reads the operation as stock converts it for that purpose: unvalidated, from the operation and its fragments.
    const operation = operationFromDocument(
      loaded.apiSchema,
      { kind: document.kind, definitions: [operationContext.operation, ...Object.values(operationContext.fragments)] },
      { validate: false },
    );
    return {
      queryPlan,
      operationContext,
      operation,
      approximateBytes: source.length * PREPARED_BYTES_PER_SOURCE_BYTE + planBytes(queryPlan),
    };
  }

  override async stop(): Promise<void> {
    await this.planners.close();
    await super.stop();
  }

  /** The supergraph being served, once one is loaded. */
  get loaded(): LoadedSupergraph | undefined {
    const loaded = this as unknown as Partial<LoadedSupergraph>;
    return loaded.queryPlanner ? (loaded as LoadedSupergraph) : undefined;
  }
}

/** The size of a plan, as the operations its fetches send: the bulk of what a plan holds. */
function planBytes(plan: PreparedOperation['queryPlan']): number {
  let bytes = 0;
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    if (typeof record.operation === 'string') bytes += record.operation.length * 4;
    for (const value of Object.values(record)) if (typeof value === 'object') visit(value);
  };
  visit(plan.node);
  return bytes;
}
