import { createHash } from 'node:crypto';
import {
  buildOperationContext,
  HEALTH_CHECK_QUERY,
  RemoteGraphQLDataSource,
  type GatewayConfig,
  type GraphQLDataSource,
  type ServiceEndpointDefinition,
  type SupergraphManager,
} from '@apollo/gateway';
import { operationFromDocument, Supergraph } from '@apollo/federation-internals';
import type {
  GatewayExecutor,
  GatewayGraphQLRequestContext,
  GatewayInterface,
  GatewayLoadResult,
  GatewaySchemaLoadOrUpdateCallback,
  GatewayUnsubscriber,
} from '@apollo/server-gateway-interface';
import { createLogger, ErrorCode, inSpan, isTracing, type Logger } from '@nexusflow/kit/core';
import { getVariableValues } from 'graphql/execution/values.js';
import { GraphQLError, print, type DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { QueryPlannerConfig } from '@apollo/query-planner';
import type { GatewayContext } from '../context.ts';
import { nullConditionError } from './conditions.ts';
import { executeIncrementally, incrementalDeliveryOf } from './defer.ts';
import { executePlan, type PreparedOperation } from './execute-plan.ts';
import { resolveOperation } from './operation-resolution.ts';
import { PlannerPool, PlanningFailure, type PlannerPoolOptions } from './planner-pool.ts';
import { loadSupergraph, SUPPORTED_SUPERGRAPH_FEATURES, supergraphId, type LoadedSupergraph } from './supergraph.ts';
import { HEALTH_CHECK } from './vendored/apollo-gateway.ts';

export type { LoadedSupergraph } from './supergraph.ts';

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

type GatewayState = 'initialized' | 'loaded' | 'updating' | 'failed' | 'stopping' | 'stopped';

/** Where the supergraph comes from, as @apollo/gateway's config gives it: its SDL, a hook, or a manager. */
function supergraphManagerOf(config: GatewayConfig): SupergraphManager {
  if (!('supergraphSdl' in config) || config.supergraphSdl === undefined)
    throw new Error('FastGateway serves a supergraph: give it `supergraphSdl` (its SDL, a SupergraphSdlHook or a SupergraphManager)');
  const { supergraphSdl } = config;
  if (typeof supergraphSdl === 'string') return { initialize: async () => ({ supergraphSdl }) };
  return typeof supergraphSdl === 'function' ? { initialize: supergraphSdl } : supergraphSdl;
}

/**
 * The gateway Apollo Server runs, through its public `GatewayInterface`: it loads the supergraph as @apollo/gateway
 * does (same managers, same validation, same data sources, same API schema; see {@link loadSupergraph}), plans on
 * worker threads ({@link PlannerPool}) with Apollo's query planner, and executes through {@link executePlan}. Per
 * request, stock also hashes the query again for its plan cache key, rebuilds the operation context and the service
 * map, and converts the document for result shaping; here all of that is prepared once per operation and kept, in a
 * cache bounded by memory rather than by count, so that a thousand huge plans cannot hold as much as a thousand small ones.
 *
 * It takes @apollo/gateway's own config (`supergraphSdl`, `buildService`, `validateSupergraph`, `queryPlannerConfig`),
 * so that it stands in for `ApolloGateway` wherever that one is given a supergraph.
 */
export class FastGateway implements GatewayInterface {
  /** The executor Apollo Server calls for every query and mutation. */
  readonly executor: GatewayExecutor;
  private readonly manager: SupergraphManager;
  private readonly logger: Logger;
  private readonly planners: PlannerPool;
  private readonly prepared: LRUCache<string, PreparedOrRefused>;
  private readonly inFlight = new Map<string, Promise<PreparedOrRefused>>();
  private readonly listeners = new Set<GatewaySchemaLoadOrUpdateCallback>();
  /** Every data source built, by subgraph name, as stock keeps them: plans made just before a switch may still use one. */
  private readonly dataSources = new Map<string, { url: string; dataSource: GraphQLDataSource }>();
  private state: GatewayState = 'initialized';
  private stopping: Promise<void> | undefined;
  private cleanup: (() => Promise<void>) | undefined;
  private current: LoadedSupergraph | undefined;
  private plannedFor: LoadedSupergraph | undefined;
  private generation = 0;
  private executionServices: Record<string, GraphQLDataSource> | undefined;
  private readonly operationTimeoutMs: number;
  private readonly queryPlannerConfig: QueryPlannerConfig;

  constructor(
    private readonly config: GatewayConfig,
    options: FastGatewayOptions = {},
  ) {
    this.manager = supergraphManagerOf(config);
    this.logger = options.logger ?? createLogger({ name: 'gateway', level: 'silent' });
    // Unlike stock, @defer is planned (and declared in the API schema) unless Apollo's config turns it off.
    this.queryPlannerConfig = {
      ...config.queryPlannerConfig,
      incrementalDelivery: { enableDefer: true, ...config.queryPlannerConfig?.incrementalDelivery },
    };
    const plannerConfig = options.planner?.plannerConfig ?? this.queryPlannerConfig;
    this.planners = new PlannerPool({ ...options.planner, plannerConfig, logger: this.logger });
    this.prepared = new LRUCache<string, PreparedOrRefused>({
      maxSize: options.preparedOperationCacheBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (entry, key) => key.length + (entry instanceof GraphQLError ? entry.message.length : entry.approximateBytes),
    });
    this.operationTimeoutMs = options.operationTimeoutMs ?? 30_000;
    this.executor = withTimeout(this.operationTimeoutMs, (requestContext) =>
      this.execute(requestContext as GatewayGraphQLRequestContext<GatewayContext>),
    );
  }

  onSchemaLoadOrUpdate(callback: GatewaySchemaLoadOrUpdateCallback): GatewayUnsubscriber {
    this.listeners.add(callback);
    return () => this.listeners.delete(callback);
  }

  async load(): Promise<GatewayLoadResult> {
    if (this.state !== 'initialized') throw new Error(`FastGateway.load called in state ${this.state}`);
    try {
      const { supergraphSdl, cleanup } = await this.manager.initialize({
        update: (sdl) => this.update(sdl),
        healthCheck: (sdl) => this.healthCheck(sdl),
        getDataSource: (definition) => this.dataSourceFor(definition),
      });
      this.cleanup = cleanup;
      this.update(supergraphSdl);
    } catch (error) {
      this.state = 'failed';
      await this.cleanUp();
      throw error;
    }
    this.state = 'loaded';
    return { executor: this.executor };
  }

  async stop(): Promise<void> {
    if (this.state === 'updating') throw new Error('FastGateway.stop cannot be called from a schema listener');
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  /** The supergraph being served, once one is loaded. */
  get loaded(): LoadedSupergraph | undefined {
    return this.current;
  }

  /** Switches to a new supergraph SDL; throws, keeping the one serving, when it cannot be served. */
  private update(supergraphSdl: string): void {
    if (this.state !== 'initialized' && this.state !== 'loaded')
      throw new Error(`Can't call \`update\` callback: the gateway is ${this.state}.`);
    if (supergraphId(supergraphSdl) === this.current?.id) return;
    const previous = this.state;
    this.state = 'updating';
    try {
      const loaded = loadSupergraph(supergraphSdl, {
        ...(this.config.validateSupergraph !== undefined ? { validateSupergraph: this.config.validateSupergraph } : {}),
        queryPlannerConfig: this.queryPlannerConfig,
        dataSourceFor: (definition) => this.dataSourceFor(definition),
      });
      if (this.current) this.logger.info({ from: this.current.id, to: loaded.id }, 'switching to a new supergraph');
      this.current = loaded;
      this.notify(loaded);
    } finally {
      this.state = previous;
    }
  }

  private notify(loaded: LoadedSupergraph): void {
    for (const listener of this.listeners) {
      try {
        listener({ apiSchema: loaded.schema, coreSupergraphSdl: loaded.supergraphSdl });
      } catch (error) {
        // As stock: a listener's failure is its own; the supergraph is switched all the same.
        this.logger.error({ err: error }, 'a schema listener failed; the schema still updates');
      }
    }
  }

  /** A subgraph's data source: the one built before while its URL is unchanged, as stock reuses them. */
  private dataSourceFor({ name, url }: ServiceEndpointDefinition): GraphQLDataSource {
    const existing = this.dataSources.get(name);
    if (existing && existing.url === url) return existing.dataSource;
    const dataSource = this.buildService({ name, url });
    this.dataSources.set(name, { url: url ?? '', dataSource });
    return dataSource;
  }

  private buildService(definition: ServiceEndpointDefinition): GraphQLDataSource {
    return this.config.buildService ? this.config.buildService(definition) : new RemoteGraphQLDataSource({ url: definition.url });
  }

  /** Stock's subgraph health check for a supergraph about to be served: each of its subgraphs answers `__typename`. */
  private async healthCheck(supergraphSdl: string): Promise<void> {
    const subgraphs = Supergraph.build(supergraphSdl, {
      supportedFeatures: SUPPORTED_SUPERGRAPH_FEATURES as Set<string>,
    }).subgraphsMetadata();
    try {
      await Promise.all(
        subgraphs.map(async (subgraph) => {
          try {
            await this.buildService(subgraph).process({ kind: HEALTH_CHECK, request: { query: HEALTH_CHECK_QUERY }, context: {} });
          } catch (error) {
            throw new Error(`[${subgraph.name}]: ${(error as Error).message}`);
          }
        }),
      );
    } catch (error) {
      throw new Error(
        'The gateway subgraphs health check failed. Updating to the provided `supergraphSdl` will likely result in future ' +
          `request failures to subgraphs. The following error occurred during the health check:\n${(error as Error).message}`,
      );
    }
  }

  private async shutDown(): Promise<void> {
    const wasLoaded = this.state === 'loaded';
    this.state = 'stopping';
    await this.planners.close();
    if (wasLoaded) await this.cleanUp();
    this.state = 'stopped';
  }

  private async cleanUp(): Promise<void> {
    const cleanup = this.cleanup;
    this.cleanup = undefined;
    await cleanup?.().catch((error: unknown) => this.logger.error({ err: error }, 'the supergraph source did not clean up'));
  }

  private async execute(requestContext: GatewayGraphQLRequestContext<GatewayContext>) {
    const started = performance.now();
    const loaded = this.current!;
    const { request, document, queryHash, source } = requestContext;
    resolveOperation(document, request.operationName ?? undefined);
    const text = source ?? print(document);
    const operationName = request.operationName ?? undefined;
    const operation = isTracing()
      ? await inSpan('graphql.plan', {}, () => this.prepare(document, text, operationName, queryHash))
      : await this.prepare(document, text, operationName, queryHash);
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
    const nullCondition = nullConditionError(operation.queryPlan.node, operation.operation.variableDefinitions, request.variables);
    if (nullCondition) throw nullCondition;
    this.executionServices ??= Object.fromEntries([...this.dataSources].map(([name, { dataSource }]) => [name, dataSource]));
    const services = this.executionServices;
    const delivery = incrementalDeliveryOf(requestContext.context);
    if (delivery) {
      const remainingMs = () => (this.operationTimeoutMs > 0 ? Math.max(1, this.operationTimeoutMs - (performance.now() - started)) : 0);
      const execution = {
        prepared: operation,
        serviceMap: services,
        requestContext,
        supergraphSchema: loaded.supergraphSchema,
        remainingMs,
      };
      const initial = await executeIncrementally(execution, delivery);
      if (initial) return initial;
    }
    if (!isTracing()) return executePlan(operation, services, requestContext, loaded.supergraphSchema);
    return inSpan('graphql.execute', {}, () => executePlan(operation, services, requestContext, loaded.supergraphSchema));
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
    const loaded = this.current;
    if (!loaded)
      throw new GraphQLError('No supergraph loaded yet', { extensions: { code: ErrorCode.ServiceUnavailable, http: { status: 503 } } });
    this.followSupergraph(loaded);
    const hash = sourceHash ?? createHash('sha256').update(source).digest('hex');
    const key = operationName ? `${hash}\u0000${operationName}` : hash;
    let entry = this.prepared.get(key);
    if (!entry) {
      const generation = this.generation;
      // Per supergraph: a planning still running on the one before gives that supergraph's plan, not this one's.
      const planningKey = `${generation}\u0000${key}`;
      let pending = this.inFlight.get(planningKey);
      if (!pending) {
        pending = this.plan(loaded, document, source, operationName, generation)
          .then((prepared) => {
            if (generation === this.generation) this.prepared.set(key, prepared);
            return prepared;
          })
          .finally(() => this.inFlight.delete(planningKey));
        this.inFlight.set(planningKey, pending);
      }
      entry = await pending;
    }
    if (entry instanceof GraphQLError) throw entry;
    return entry;
  }

  /** A new supergraph: new plans, new data sources, new planners. */
  private followSupergraph(loaded: LoadedSupergraph): void {
    if (this.plannedFor === loaded) return;
    this.plannedFor = loaded;
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
}

/** An executor that answers GATEWAY_TIMEOUT, and aborts the operation's subgraph fetches, once `timeoutMs` have passed. */
function withTimeout(timeoutMs: number, execute: GatewayExecutor): GatewayExecutor {
  if (timeoutMs <= 0) return execute;
  return async (requestContext) => {
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
      return await Promise.race([execute(requestContext), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
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
