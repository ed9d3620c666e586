import type { GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode } from '@apollo/query-planner';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { GraphQLError, validate, type DocumentNode, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { Broadcast, clientError, ErrorCode, formatClientError, type BroadcastGroup, type Logger } from '@nexusflow/kit/core';
import type { GatewayContext } from '../context.ts';
import { executePlan, type PreparedOperation } from '../execution/execute-plan.ts';
import type { LoadedSupergraph } from '../execution/gateway.ts';
import type { UpstreamEvent, UpstreamSubscriptions } from './upstream.ts';

/** The service name under which each upstream event enters the gateway's normal plan execution. */
const EVENT_SOURCE = '__subscription_event__';

interface SubscriptionRequest {
  document: DocumentNode;
  /** The document's text, as the client sent it. */
  source: string;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  context: GatewayContext;
}

/** How one group's events are produced on one supergraph: where its upstream subscription goes, and the rest of the plan. */
interface GroupPlan {
  supergraph: LoadedSupergraph;
  primary: FetchNode;
  url: string;
  resolve: (event: UpstreamEvent) => Promise<ExecutionResult>;
}

/** A running group of identical subscriptions: what it was asked, and how it is served now. */
interface ActiveGroup {
  request: SubscriptionRequest;
  group: BroadcastGroup<ExecutionResult>;
  plan: GroupPlan;
  /** Its upstream subscription; replaced when a new supergraph moves the root field. */
  events: AsyncIterableIterator<UpstreamEvent>;
}

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
  /** The groups running now, by key: each is planned again when a new supergraph arrives. */
  private readonly active = new Map<string, ActiveGroup>();

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
    const request: SubscriptionRequest = {
      document: args.document,
      source: args.source,
      operationName: args.operationName ?? undefined,
      variables: args.variables ?? {},
      context: args.context,
    };
    // Every group runs on the current supergraph (reload() moves them), so groups need no supergraph in their key.
    const key = JSON.stringify([request.source, request.operationName, request.variables, request.context.identity]);
    // Planned once per operation (and cached like queries): a thousand subscribers of one execution cost one plan.
    const plan = this.groups.has(key)
      ? undefined
      : this.planFor(supergraph, await this.options.prepare(args.document, args.source, request.operationName), request);
    return this.groups.subscribe(key, {
      // Joining a group that started while this subscription was being planned starts nothing.
      onFirst: (group) => {
        if (!plan) return;
        const active: ActiveGroup = { request, group, plan, events: this.startUpstream(plan, request) };
        this.active.set(key, active);
        void this.pump(active, active.events);
        // A supergraph that arrived while this one was being planned has passed over it: catch up at once.
        const current = this.options.supergraph();
        if (current && current !== plan.supergraph) void this.replan(key, active, current);
      },
      onLast: () => {
        const active = this.active.get(key);
        this.active.delete(key);
        void active?.events.return?.();
      },
    });
  }

  /**
   * Moves every running group to the supergraph now served, without its subscribers noticing: an operation still valid
   * is planned again (its upstream subscription kept when the root field stays where it was), and one that is not is
   * ended with GRAPHQL_VALIDATION_FAILED saying why. Called once a new supergraph is loaded.
   */
  async reload(): Promise<void> {
    const supergraph = this.options.supergraph();
    if (!supergraph) return;
    await Promise.all([...this.active].map(([key, active]) => this.replan(key, active, supergraph)));
  }

  /** How many groups are running (each one upstream subscription). */
  get groupCount(): number {
    return this.active.size;
  }

  private async replan(key: string, active: ActiveGroup, supergraph: LoadedSupergraph): Promise<void> {
    if (active.plan.supergraph === supergraph || active.group.ended) return;
    const { request } = active;
    const [invalid] = validate(supergraph.schema, request.document);
    if (invalid) {
      this.invalidate(key, active, invalid.message);
      return;
    }
    let plan: GroupPlan;
    try {
      plan = this.planFor(supergraph, await this.options.prepare(request.document, request.source, request.operationName), request);
    } catch (error) {
      if (!(error instanceof GraphQLError)) {
        this.options.logger.error({ err: error }, 'a subscription could not be planned on the new supergraph; it keeps the old plan');
        return;
      }
      this.invalidate(key, active, error.message);
      return;
    }
    if (this.active.get(key) !== active || active.group.ended) return;
    const moved = plan.url !== active.plan.url || plan.primary.operation !== active.plan.primary.operation;
    active.plan = plan;
    if (!moved) return;
    const previous = active.events;
    active.events = this.startUpstream(plan, request);
    void this.pump(active, active.events);
    void previous.return?.();
  }

  private invalidate(key: string, active: ActiveGroup, reason: string): void {
    this.options.logger.info(
      { operationName: active.request.operationName },
      'a subscription is no longer valid on the new supergraph; ending it',
    );
    active.group.publish({
      errors: [clientError(ErrorCode.GraphQLValidationFailed, `This subscription is no longer valid after a schema update: ${reason}`)],
    });
    this.active.delete(key);
    active.group.end();
    void active.events.return?.();
  }

  /**
   * How a prepared subscription runs on `supergraph`: its upstream subscription on the subgraph that owns the root
   * field, and the resolution of each of its events. Throws, before anything starts, for what cannot be subscribed to.
   */
  private planFor(supergraph: LoadedSupergraph, prepared: PreparedOperation, request: SubscriptionRequest): GroupPlan {
    const root = prepared.queryPlan.node;
    if (root?.kind !== 'Subscription') throw clientError(ErrorCode.BadRequest, 'Not a subscription');
    const { primary, rest } = root;
    const source = this.options.dataSources.get(primary.serviceName);
    if (!source) throw clientError(ErrorCode.ServiceUnavailable, `The ${primary.serviceName} service is unavailable`);
    const requestContext = {
      request: { query: undefined, variables: request.variables, operationName: request.operationName },
      context: request.context,
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
    return {
      supergraph,
      primary,
      url: source.url,
      resolve: (event) => this.complete(supergraph, eventPlan, event, requestContext, primary.serviceName),
    };
  }

  private startUpstream(plan: GroupPlan, request: SubscriptionRequest): AsyncIterableIterator<UpstreamEvent> {
    return this.options.upstreams.subscribe({
      url: plan.url,
      operation: plan.primary.operation,
      variables: Object.fromEntries((plan.primary.variableUsages ?? []).map((name) => [name, request.variables[name]])),
      identity: request.context.identity,
    });
  }

  /**
   * Resolves the group's events one at a time, which keeps them in order, and hands each result to every subscriber;
   * each event is resolved by the group's plan of the moment. The group ends with its upstream, unless that upstream was
   * replaced by a new supergraph's.
   */
  private async pump(active: ActiveGroup, events: AsyncIterableIterator<UpstreamEvent>): Promise<void> {
    for await (const event of events) {
      const { plan, group } = active;
      const serviceName = plan.primary.serviceName;
      let result: ExecutionResult;
      if (event.data) {
        try {
          result = await plan.resolve(event);
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
    if (active.events === events) active.group.end();
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
