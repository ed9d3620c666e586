import { buildOperationContext, executeQueryPlan, type GraphQLDataSource } from '@apollo/gateway';
import { operationFromDocument, Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { GraphQLError, print, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { clientError, createAsyncQueue, ErrorCode, formatClientError, type AsyncQueue, type Logger } from '@nexusflow/kit/core';
import type { GatewayContext } from '../context.ts';
import type { UpstreamEvent, UpstreamSubscriptions } from './upstream.ts';

/** The service name under which each upstream event enters the gateway's normal plan execution. */
const EVENT_SOURCE = '__subscription_event__';

interface Graph {
  /** Changes with every supergraph, so that subscriptions planned on different supergraphs never share results. */
  generation: number;
  supergraphSchema: GraphQLSchema;
  apiSchema: Schema;
  planner: QueryPlanner;
}

export interface FederatedSubscriptionOptions {
  upstreams: UpstreamSubscriptions;
  /** The data sources of the gateway's subgraphs, by service name, as the gateway built them. */
  dataSources: Map<string, GraphQLDataSource & { url: string }>;
  logger: Logger;
  /** Called each time the rest of a plan ran for an event: once per event per group of identical subscriptions. */
  onEventResolved?: () => void;
}

/**
 * Subscriptions with the same operation, variables and identity see the same results, so each event is resolved once
 * for all of them and the result is fanned out: a thousand clients watching one execution cost one upstream
 * subscription and one run of the rest of the plan per event, not a thousand.
 */
interface ResultGroup {
  subscribers: Set<AsyncQueue<ExecutionResult>>;
  /** Replayed to subscribers that join later; events carry the whole state, so the latest is enough to catch up. */
  last?: ExecutionResult;
  events: AsyncIterableIterator<UpstreamEvent>;
}

/**
 * Executes subscriptions across subgraphs, which stock @apollo/gateway refuses. Apollo's query planner
 * already plans a subscription as a primary fetch (the subgraph that owns the root field) and the rest
 * of the plan; the primary runs as a subscription on that subgraph, and every event it yields is fed,
 * as the result of that fetch, into the gateway's own plan execution, so fields of other subgraphs are
 * fetched exactly as for a query. A failed entity fetch becomes an `errors` entry of that one event.
 */
export class FederatedSubscriptions {
  private graph: Graph | undefined;
  /** The latest supergraph, planned for on the first subscription after it arrived. */
  private supergraphSdl: string | undefined;
  private generation = 0;
  private readonly groups = new Map<string, ResultGroup>();

  constructor(private readonly options: FederatedSubscriptionOptions) {}

  /**
   * Called with every supergraph the gateway loads, so plans always match what queries see. The planner is
   * built when a subscription needs it: a gateway that serves no subscriptions does not hold a second one.
   */
  useSupergraph(supergraphSdl: string): void {
    this.supergraphSdl = supergraphSdl;
    this.graph = undefined;
  }

  private currentGraph(): Graph | undefined {
    if (!this.graph && this.supergraphSdl) {
      const supergraph = Supergraph.build(this.supergraphSdl);
      this.graph = {
        generation: ++this.generation,
        supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
        apiSchema: supergraph.apiSchema(),
        planner: new QueryPlanner(supergraph),
      };
    }
    return this.graph;
  }

  subscribe(args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null;
    variables?: Record<string, unknown> | null;
    context: GatewayContext;
  }): AsyncIterableIterator<ExecutionResult> {
    const graph = this.currentGraph();
    if (!graph) throw clientError(ErrorCode.ServiceUnavailable, 'No supergraph loaded yet');
    const operationName = args.operationName ?? undefined;
    const variables = args.variables ?? {};
    const operationContext = buildOperationContext({ schema: args.schema, operationDocument: args.document, operationName });
    const plan = graph.planner.buildQueryPlan(operationFromDocument(graph.apiSchema, args.document, { operationName }));
    if (plan.node?.kind !== 'Subscription') throw clientError(ErrorCode.BadRequest, 'Not a subscription');
    const { primary, rest } = plan.node;
    const source = this.options.dataSources.get(primary.serviceName);
    if (!source) throw clientError(ErrorCode.ServiceUnavailable, `The ${primary.serviceName} service is unavailable`);

    const key = JSON.stringify([graph.generation, args.document.loc?.source.body ?? print(args.document), operationName, variables, args.context.identity]);
    let group = this.groups.get(key);
    if (!group) {
      const primaryVariables = Object.fromEntries((primary.variableUsages ?? []).map((name) => [name, variables[name]]));
      const events = this.options.upstreams.subscribe({ url: source.url, operation: primary.operation, variables: primaryVariables, identity: args.context.identity });
      const requestContext = {
        request: { query: undefined, variables, operationName },
        context: args.context,
        logger: this.options.logger,
        metrics: {},
        cache: undefined,
      } as unknown as GatewayGraphQLRequestContext<GatewayContext>;
      const resolve = (event: UpstreamEvent) => this.complete(graph, primary, rest, event, requestContext, operationContext);
      group = { subscribers: new Set(), events };
      this.groups.set(key, group);
      void this.pump(key, group, resolve);
    }
    const joined = group;
    const queue: AsyncQueue<ExecutionResult> = createAsyncQueue({
      onReturn: () => {
        joined.subscribers.delete(queue);
        if (joined.subscribers.size === 0) this.disband(key, joined);
      },
    });
    joined.subscribers.add(queue);
    if (joined.last) queue.push(joined.last);
    return queue;
  }

  /** Resolves the group's events one at a time, which keeps them in order, and hands each result to every subscriber. */
  private async pump(key: string, group: ResultGroup, resolve: (event: UpstreamEvent) => Promise<ExecutionResult>): Promise<void> {
    for await (const event of group.events) {
      let result: ExecutionResult;
      if (event.data) {
        try {
          result = await resolve(event);
        } catch (error) {
          this.options.logger.error({ err: error }, 'subscription event could not be resolved');
          result = { errors: [clientError(ErrorCode.InternalServerError, 'This event could not be resolved')] };
        }
        this.options.onEventResolved?.();
      } else {
        result = { errors: (event.errors ?? []).map((error) => new GraphQLError(error.message, { extensions: error.extensions })) };
      }
      group.last = result;
      for (const subscriber of group.subscribers) subscriber.push(result);
    }
    for (const subscriber of group.subscribers) subscriber.end();
    this.disband(key, group);
  }

  private disband(key: string, group: ResultGroup): void {
    if (this.groups.get(key) !== group) return;
    this.groups.delete(key);
    void group.events.return?.();
  }

  /** Runs the rest of the plan for one event, starting from the event as the primary fetch's result. */
  private async complete(
    graph: Graph,
    primary: FetchNode,
    rest: PlanNode | undefined,
    event: UpstreamEvent,
    requestContext: GatewayGraphQLRequestContext<GatewayContext>,
    operationContext: ReturnType<typeof buildOperationContext>,
  ): Promise<ExecutionResult> {
    const eventSource: GraphQLDataSource = { process: async () => ({ data: event.data, ...(event.errors ? { errors: event.errors } : {}) }) as never };
    const serviceMap: Record<string, GraphQLDataSource> = Object.fromEntries(this.options.dataSources);
    serviceMap[EVENT_SOURCE] = eventSource;
    const replay: FetchNode = { ...primary, serviceName: EVENT_SOURCE };
    const node: PlanNode = rest ? { kind: 'Sequence', nodes: [replay, rest] } : replay;
    const result = await executeQueryPlan(
      { kind: 'QueryPlan', node },
      serviceMap,
      requestContext,
      operationContext,
      graph.supergraphSchema,
      graph.apiSchema,
    );
    const errors = (result.errors ?? []).map((error) => {
      // The same shaping as HTTP responses: a known code and its message, nothing internal.
      const safe = formatClientError(error instanceof GraphQLError ? error.toJSON() : { message: String(error) });
      return new GraphQLError(safe.message, { path: safe.path, extensions: safe.extensions });
    });
    return { data: (result.data ?? null) as ExecutionResult['data'], ...(errors.length > 0 ? { errors } : {}) };
  }
}
