import type { GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode } from '@apollo/query-planner';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { Broadcast, clientError, ErrorCode, formatClientError, type BroadcastGroup, type Logger } from '@nexusflow/kit/core';
import type { GatewayContext } from '../context.ts';
import { executePlan, type PreparedOperation } from '../execution/execute-plan.ts';
import type { LoadedSupergraph } from '../execution/gateway.ts';
import type { UpstreamEvent, UpstreamSubscriptions } from './upstream.ts';

/** The service name under which each upstream event enters the gateway's normal plan execution. */
const EVENT_SOURCE = '__subscription_event__';

export interface FederatedSubscriptionOptions {
  /** The supergraph the gateway serves, so that subscriptions are planned and executed exactly as queries are. */
  supergraph: () => LoadedSupergraph | undefined;
  /** Plans a validated operation the way queries are planned (on the gateway's planner workers, cached). */
  prepare: (document: DocumentNode, source: string, operationName: string | undefined) => Promise<PreparedOperation>;
  upstreams: UpstreamSubscriptions;
  /** The data sources of the gateway's subgraphs, by service name, as the gateway built them. */
  dataSources: Map<string, GraphQLDataSource & { url: string }>;
  logger: Logger;
  /** Called each time the rest of a plan ran for an event: once per event per group of identical subscriptions. */
  onEventResolved?: () => void;
}

/**
 * Executes subscriptions across subgraphs, which stock @apollo/gateway refuses. Apollo's query planner
 * already plans a subscription as a primary fetch (the subgraph that owns the root field) and the rest
 * of the plan; the primary runs as a subscription on that subgraph, and every event it yields is fed,
 * as the result of that fetch, into the gateway's own plan execution, so fields of other subgraphs are
 * fetched exactly as for a query. A failed entity fetch becomes an `errors` entry of that one event.
 */
export class FederatedSubscriptions {
  /**
   * Subscriptions with the same operation, variables and identity see the same results, so each event is resolved once
   * for all of them and the result is fanned out: a thousand clients watching one execution cost one upstream
   * subscription and one run of the rest of the plan per event, not a thousand. The latest result is replayed to
   * subscribers that join later; events carry the whole state, so the latest is enough to catch up.
   */
  private readonly groups = new Broadcast<ExecutionResult>({ replayLatest: true });
  /** Numbers each supergraph, so that subscriptions planned on different supergraphs never share results. */
  private readonly supergraphIds = new WeakMap<LoadedSupergraph, number>();
  private supergraphs = 0;

  constructor(private readonly options: FederatedSubscriptionOptions) {}

  async subscribe(args: {
    document: DocumentNode;
    /** The document's text, as the client sent it. */
    source: string;
    operationName?: string | null;
    variables?: Record<string, unknown> | null;
    context: GatewayContext;
  }): Promise<AsyncIterableIterator<ExecutionResult>> {
    const supergraph = this.options.supergraph();
    if (!supergraph) throw clientError(ErrorCode.ServiceUnavailable, 'No supergraph loaded yet');
    const operationName = args.operationName ?? undefined;
    const variables = args.variables ?? {};
    let supergraphNumber = this.supergraphIds.get(supergraph);
    if (supergraphNumber === undefined) this.supergraphIds.set(supergraph, (supergraphNumber = ++this.supergraphs));
    const key = JSON.stringify([supergraphNumber, args.source, operationName, variables, args.context.identity]);
    // Planned once per operation (and cached like queries): a thousand subscribers of one execution cost one plan.
    const start = this.groups.has(key)
      ? undefined
      : this.starter(supergraph, await this.options.prepare(args.document, args.source, operationName), {
          operationName,
          variables,
          context: args.context,
        });
    let events: AsyncIterableIterator<UpstreamEvent> | undefined;
    return this.groups.subscribe(key, {
      // Joining a group that started while this subscription was being planned starts nothing.
      onFirst: (group) => {
        events = start?.(group);
      },
      onLast: () => void events?.return?.(),
    });
  }

  /**
   * What starts a group for a prepared subscription: its upstream subscription on the subgraph that owns the root
   * field, and the resolution of each of its events. Throws, before anything starts, for what cannot be subscribed to.
   */
  private starter(
    supergraph: LoadedSupergraph,
    prepared: PreparedOperation,
    {
      operationName,
      variables,
      context,
    }: { operationName: string | undefined; variables: Record<string, unknown>; context: GatewayContext },
  ): (group: BroadcastGroup<ExecutionResult>) => AsyncIterableIterator<UpstreamEvent> {
    const root = prepared.queryPlan.node;
    if (root?.kind !== 'Subscription') throw clientError(ErrorCode.BadRequest, 'Not a subscription');
    const { primary, rest } = root;
    const source = this.options.dataSources.get(primary.serviceName);
    if (!source) throw clientError(ErrorCode.ServiceUnavailable, `The ${primary.serviceName} service is unavailable`);
    const requestContext = {
      request: { query: undefined, variables, operationName },
      context,
      logger: this.options.logger,
      metrics: {},
      cache: undefined,
    } as unknown as GatewayGraphQLRequestContext<GatewayContext>;
    // Each event enters as the result of the primary fetch, and the rest of the plan runs from it.
    const replay: FetchNode = { ...primary, serviceName: EVENT_SOURCE };
    const eventPlan: PreparedOperation = {
      ...prepared,
      queryPlan: { kind: 'QueryPlan', node: rest ? { kind: 'Sequence', nodes: [replay, rest] } : replay },
    };
    const resolve = (event: UpstreamEvent) => this.complete(supergraph, eventPlan, event, requestContext, primary.serviceName);
    return (group) => {
      const events = this.options.upstreams.subscribe({
        url: source.url,
        operation: primary.operation,
        variables: Object.fromEntries((primary.variableUsages ?? []).map((name) => [name, variables[name]])),
        identity: context.identity,
      });
      void this.pump(group, events, resolve, primary.serviceName);
      return events;
    };
  }

  /** Resolves the group's events one at a time, which keeps them in order, and hands each result to every subscriber. */
  private async pump(
    group: BroadcastGroup<ExecutionResult>,
    events: AsyncIterableIterator<UpstreamEvent>,
    resolve: (event: UpstreamEvent) => Promise<ExecutionResult>,
    serviceName: string,
  ): Promise<void> {
    for await (const event of events) {
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
        result = {
          errors: (event.errors ?? []).map(
            (error) => new GraphQLError(error.message, { extensions: { ...error.extensions, serviceName } }),
          ),
        };
      }
      group.publish(result);
    }
    group.end();
  }

  /** Runs the rest of the plan for one event, starting from the event as the primary fetch's result. */
  private async complete(
    supergraph: LoadedSupergraph,
    eventPlan: PreparedOperation,
    event: UpstreamEvent,
    requestContext: GatewayGraphQLRequestContext<GatewayContext>,
    serviceName: string,
  ): Promise<ExecutionResult> {
    const eventSource: GraphQLDataSource = {
      process: async () => ({ data: event.data, ...(event.errors ? { errors: event.errors } : {}) }),
    };
    const serviceMap: Record<string, GraphQLDataSource> = Object.fromEntries(this.options.dataSources);
    serviceMap[EVENT_SOURCE] = eventSource;
    const result = await executePlan(eventPlan, serviceMap, requestContext as GatewayGraphQLRequestContext, supergraph.supergraphSchema);
    const errors = (result.errors ?? []).map((error) => {
      // The same shaping as HTTP responses: a known code and its message, nothing internal.
      const formatted: GraphQLFormattedError = error instanceof GraphQLError ? error.toJSON() : { message: String(error) };
      // The event's own errors come from the subgraph that owns the subscription, not from the replay's stand-in.
      const fromEvent = formatted.extensions?.serviceName === EVENT_SOURCE;
      const safe = formatClientError(fromEvent ? { ...formatted, extensions: { ...formatted.extensions, serviceName } } : formatted);
      return new GraphQLError(safe.message, { path: safe.path, extensions: safe.extensions });
    });
    return { data: (result.data ?? null) as ExecutionResult['data'], ...(errors.length > 0 ? { errors } : {}) };
  }
}
