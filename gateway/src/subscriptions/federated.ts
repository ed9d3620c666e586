import type { GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode } from '@apollo/query-planner';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { GraphQLError, validate, type DocumentNode, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { clientError, createAsyncQueue, ErrorCode, formatClientError, type Identity, type Logger } from '@nexusflow/kit/core';
import type { GatewayContext } from '../context.ts';
import { executePlan, type PreparedOperation } from '../execution/execute-plan.ts';
import type { LoadedSupergraph } from '../execution/gateway.ts';
import { fetchesIn } from '../execution/plan-fetches.ts';
import { formatted, formattedResult, type AuthorizeSubscription, type CheckSubscriptionCost } from './operations.ts';
import { FanOut, type FanOutSink } from './fan-out.ts';
import type { UpstreamEvent, UpstreamSubscriptions } from './upstream.ts';

/**
 * What users must have in common to share a subscription whose subgraphs answer alike: their tenant, their roles (in
 * any order) and how they signed in. Authorization's removals, in the group's key too, follow from these, and so does
 * judging the group again on a new supergraph with its first subscriber's identity: the gateway's policies
 * (authorization/policies.ts) read nothing else of a caller, and one that did would have to be added here.
 */
function alikeUsersOf(identity: Identity): unknown {
  if (identity.kind !== 'user') return identity;
  return { tenantId: identity.tenantId, roles: [...identity.roles].sort(), via: identity.via ?? null };
}

/**
 * A removal by where it is and what it says, which names the field's type (`… Tick.label`): a field of one name removed
 * on another type behind the same response key is another removal.
 */
const removalKey = (error: GraphQLError): string => `${JSON.stringify(error.path ?? null)} ${error.message}`;

const subgraphsRead = new WeakMap<PreparedOperation, ReadonlySet<string> | undefined>();

/**
 * Whether every fetch of the plan (the subscription's own, and each entity fetch after it) goes to one of `subgraphs`;
 * a plan with a kind of node the walk does not know shares nothing.
 */
function readsOnly(prepared: PreparedOperation, subgraphs: ReadonlySet<string>): boolean {
  let read = subgraphsRead.get(prepared);
  if (!subgraphsRead.has(prepared)) {
    const root = prepared.queryPlan.node;
    const fetches = root?.kind === 'Subscription' ? fetchesIn(root.rest)?.concat(root.primary) : fetchesIn(root);
    read = fetches && new Set(fetches.map((fetch) => fetch.serviceName));
    subgraphsRead.set(prepared, read);
  }
  if (!read || read.size === 0) return false;
  for (const name of read) if (!subgraphs.has(name)) return false;
  return true;
}

/** The service name under which each upstream event enters the gateway's normal plan execution. */
const EVENT_SOURCE = '__subscription_event__';
/**
 * Events of one group being resolved, or resolved and not yet handed to every subscriber, at most: enough to overlap one
 * event's entity fetches with the fan-out of the one before, few enough that a flood of upstream events waits in the
 * upstream's bounded queue rather than in fetches or in memory.
 */
const EVENTS_RESOLVED_AT_ONCE = 8;
/** The wait before a group the planner turned away at a reload is planned again; it doubles up to the maximum. */
const REPLAN_RETRY_FIRST_MS = 50;
const REPLAN_RETRY_MAX_MS = 5_000;

interface SubscriptionRequest {
  document: DocumentNode;
  /** The text planned: the client's, or what authorization left of it. */
  source: string;
  /** The client's text, before authorization: what is authorized again when a new supergraph brings other rules. */
  clientSource: string;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  context: GatewayContext;
  /** Errors of the fields authorization removed, put before each event's own. */
  removals: readonly GraphQLError[] | undefined;
}

/** How one group's events are produced on one supergraph: where its upstream subscription goes, and the rest of the plan. */
interface GroupPlan {
  supergraph: LoadedSupergraph;
  primary: FetchNode;
  url: string;
  resolve: (event: UpstreamEvent) => Promise<ExecutionResult>;
}

/**
 * One event of a group, as every subscriber of the group receives it: shaped and serialised once for all of them,
 * however many they are.
 */
export class GroupEvent {
  private json: string | undefined;
  private nextFrameTail: Buffer | undefined;

  constructor(readonly result: ExecutionResult) {}

  /** The result as JSON, errors shaped as over HTTP. */
  get payloadJson(): string {
    return (this.json ??= JSON.stringify(formattedResult(this.result)));
  }

  /**
   * The end of a graphql-ws `next` message carrying this event: the payload and the closing brace. Each subscriber puts
   * its own `{"id":…,"type":"next","payload":` before it, so that the message is exactly the one graphql-ws would
   * serialise, at the cost of one copy instead of one serialisation.
   */
  get frameTail(): Buffer {
    return (this.nextFrameTail ??= Buffer.from(`${this.payloadJson}}`));
  }
}

/** Where a subscription's events go: called in order, synchronously, with each event of its group. */
export type SubscriptionSink = FanOutSink<GroupEvent>;

/** A running group of identical subscriptions: what it was asked, how it is served now, and who receives it. */
interface ActiveGroup {
  key: string;
  /** Shared by the users of a tenant alike in roles and credential, rather than by one identity's subscriptions. */
  acrossUsers: boolean;
  request: SubscriptionRequest;
  plan: GroupPlan;
  /** Its upstream subscription; replaced when a new supergraph moves the root field. */
  events: AsyncIterableIterator<UpstreamEvent>;
  /** Its subscribers, and the events on their way to them. */
  fanOut: FanOut<GroupEvent>;
  ended: boolean;
}

export interface FederatedSubscribeArgs {
  document: DocumentNode;
  /** The text to plan: the client's, or what authorization left of it. */
  source: string;
  /** The client's text, when authorization changed it into `source`. @default source */
  clientSource?: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  context: GatewayContext;
  /** Errors of the fields authorization removed from the document, sent before each event's own errors. */
  removals?: readonly GraphQLError[];
  /** The API schema the subscription was authorized and estimated on: judged again if another is served by now. */
  authorizedOn?: GraphQLSchema;
}

export interface FederatedSubscriptionOptions {
  /** The supergraph the gateway serves, so that subscriptions are planned and executed exactly as queries are. */
  supergraph: () => LoadedSupergraph | undefined;
  /** Plans a validated operation the way queries are planned (on the gateway's planner workers, cached). */
  prepare: (document: DocumentNode, source: string, operationName: string | undefined) => Promise<PreparedOperation>;
  upstreams: UpstreamSubscriptions;
  /** The data sources of the gateway's subgraphs, by service name, as the gateway built them. */
  dataSources: Map<string, GraphQLDataSource & { url: string }>;
  /**
   * Subgraphs declared to answer every user of a tenant alike who has the same roles and kind of credential: a
   * subscription whose plan reads only these is shared by all such users, not per user. @default none
   */
  sharedAcrossUsers?: ReadonlySet<string>;
  /**
   * The authorization directives, as a subscription passed them on subscribing: run again on every new supergraph,
   * whose directives may differ. @default none (nothing is authorized again)
   */
  authorize?: AuthorizeSubscription;
  /**
   * Demand control's estimate, as a subscription passed it on subscribing: run again on every new supergraph, whose
   * costs may differ; the refusal, if any. @default none (nothing is estimated again)
   */
  checkCost?: CheckSubscriptionCost;
  logger: Logger;
  /** Called with each error's code when a new supergraph's rules or costs end a running group. */
  onWithdrawn?: (code: string) => void;
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
   * Subscriptions with the same operation, variables, identity and authorization see the same results, so each event
   * is resolved once for all of them, shaped and serialised once ({@link GroupEvent}), and handed to every subscriber:
   * a thousand clients watching one execution cost one upstream subscription, one run of the rest of the plan and one
   * serialisation per event, not a thousand. Groups are per identity, so one user's results never reach another, but
   * where the operator declared every subgraph a subscription reads to answer alike users alike
   * ({@link FederatedSubscriptionOptions.sharedAcrossUsers}): those groups are per tenant, roles and kind of credential.
   */
  private readonly active = new Map<string, ActiveGroup>();
  private readonly sharedAcrossUsers: ReadonlySet<string>;

  constructor(private readonly options: FederatedSubscriptionOptions) {
    this.sharedAcrossUsers = options.sharedAcrossUsers ?? new Set();
    if (options.dataSources.size > 0) this.warnOfUnknownSharedSubgraphs();
  }

  /**
   * Attaches `sink` to the group of identical subscriptions, starting the group if it is the first: its events go to
   * `sink` from now on, the group's latest first. Returns what detaches it; the group stops with its last subscriber.
   * Throws, before anything starts, for what cannot be subscribed to.
   */
  async attach(args: FederatedSubscribeArgs, sink: SubscriptionSink): Promise<() => void> {
    const supergraph = this.options.supergraph();
    if (!supergraph) throw clientError(ErrorCode.ServiceUnavailable, 'No supergraph loaded yet');
    const request: SubscriptionRequest = {
      document: args.document,
      source: args.source,
      clientSource: args.clientSource ?? args.source,
      operationName: args.operationName ?? undefined,
      variables: args.variables ?? {},
      context: args.context,
      removals: args.removals && args.removals.length > 0 ? args.removals : undefined,
    };
    // Edges judge a subscription before it gets here; a supergraph loaded meanwhile may judge it otherwise.
    if (args.authorizedOn && args.authorizedOn !== supergraph.schema) {
      const refused = this.refusedOnNewSupergraph(request);
      if (refused) throw refused.errors[0]!;
    }
    // Where sharing across users is possible, the decision and the group's plan come from one preparation, so that a
    // supergraph loaded in between cannot give a shared group a plan that reads a subgraph not declared.
    const prepared = this.mayShareAcrossUsers(request)
      ? await this.options.prepare(args.document, args.source, request.operationName)
      : undefined;
    const acrossUsers = prepared !== undefined && readsOnly(prepared, this.sharedAcrossUsers);
    // Every group runs on the current supergraph (reload() moves them), so groups need no supergraph in their key.
    const key = JSON.stringify([
      request.source,
      request.operationName,
      request.variables,
      acrossUsers ? alikeUsersOf(request.context.identity) : request.context.identity,
      request.removals?.map((error) => formatted(error)),
    ]);
    let active = this.active.get(key);
    if (!active) {
      // Planned once per operation (and cached like queries): a thousand subscribers of one execution cost one plan.
      const plan = this.planFor(
        supergraph,
        prepared ?? (await this.options.prepare(args.document, args.source, request.operationName)),
        request,
      );
      // Joining a group that started while this subscription was being planned starts nothing.
      active = this.active.get(key) ?? this.start(key, request, plan, acrossUsers);
    }
    const group = active;
    group.fanOut.add(sink);
    return () => this.leave(group, sink);
  }

  /** The same subscription as an async iterator, for transports that pull (Server-Sent Events, multipart HTTP). */
  async subscribe(args: FederatedSubscribeArgs): Promise<AsyncIterableIterator<ExecutionResult>> {
    // The consumer may leave while the subscription is still being planned: it is detached as soon as it is attached.
    const attached: { detach?: () => void; left: boolean } = { left: false };
    const queue = createAsyncQueue<ExecutionResult>({
      onReturn: () => {
        attached.left = true;
        attached.detach?.();
      },
    });
    attached.detach = await this.attach(args, { next: (event) => queue.push(event.result), end: () => queue.end() });
    if (attached.left) attached.detach();
    return queue;
  }

  /** Whether sharing across users is declared at all, and this is a user's subscription. */
  private mayShareAcrossUsers(request: SubscriptionRequest): boolean {
    return this.sharedAcrossUsers.size > 0 && request.context.identity.kind === 'user';
  }

  private start(key: string, request: SubscriptionRequest, plan: GroupPlan, acrossUsers: boolean): ActiveGroup {
    const active: ActiveGroup = {
      key,
      acrossUsers,
      request,
      plan,
      events: this.startUpstream(plan, request),
      fanOut: new FanOut({ logger: this.options.logger }),
      ended: false,
    };
    this.active.set(key, active);
    void this.pump(active, active.events);
    // A supergraph that arrived while this one was being planned has passed over it: catch up at once.
    const current = this.options.supergraph();
    if (current && current !== plan.supergraph) void this.replan(active, current);
    return active;
  }

  private leave(active: ActiveGroup, sink: SubscriptionSink): void {
    if (!active.fanOut.delete(sink) || active.fanOut.size > 0 || active.ended) return;
    active.ended = true;
    if (this.active.get(active.key) === active) this.active.delete(active.key);
    void active.events.return?.();
  }

  /** Hands results, in order, to every subscriber of the group, each shaped and serialised at most once. */
  private publish(active: ActiveGroup, results: ExecutionResult[]): void {
    if (active.ended) return;
    const removals = active.request.removals;
    active.fanOut.publish(
      results.map((result) => new GroupEvent(removals ? { ...result, errors: [...removals, ...(result.errors ?? [])] } : result)),
    );
  }

  /** Ends the group: every subscriber once it has been handed what was published, and the upstream subscription. */
  private end(active: ActiveGroup): void {
    if (active.ended) return;
    active.ended = true;
    if (this.active.get(active.key) === active) this.active.delete(active.key);
    void active.fanOut.end();
    void active.events.return?.();
  }

  /**
   * Moves every running group to the supergraph now served, without its subscribers noticing: an operation still valid
   * is planned again (its upstream subscription kept when the root field stays where it was), and one that is not is
   * ended with GRAPHQL_VALIDATION_FAILED saying why. Called once a new supergraph is loaded.
   */
  async reload(): Promise<void> {
    const supergraph = this.options.supergraph();
    if (!supergraph) return;
    this.warnOfUnknownSharedSubgraphs();
    await Promise.all([...this.active.values()].map((active) => this.replan(active, supergraph)));
  }

  /** A declared name the supergraph has no subgraph of shares nothing: a typo the operator should hear of. */
  private warnOfUnknownSharedSubgraphs(): void {
    const unknown = [...this.sharedAcrossUsers].filter((name) => !this.options.dataSources.has(name));
    if (unknown.length > 0)
      this.options.logger.warn(
        { subgraphs: unknown, known: [...this.options.dataSources.keys()] },
        'SUBSCRIPTIONS_SHARED_ACROSS_USERS names subgraphs the supergraph does not have',
      );
  }

  /** How many groups are running (each one upstream subscription). */
  get groupCount(): number {
    return this.active.size;
  }

  private async replan(active: ActiveGroup, supergraph: LoadedSupergraph, retryMs = REPLAN_RETRY_FIRST_MS): Promise<void> {
    if (active.plan.supergraph === supergraph || active.ended) return;
    const { request } = active;
    const [invalid] = validate(supergraph.schema, request.document);
    if (invalid) {
      this.invalidate(active, invalid.message);
      return;
    }
    // Before any wait, so that no event resolved under the old rules reaches a subscriber the new ones refuse.
    const refused = this.refusedOnNewSupergraph(request);
    if (refused) {
      this.withdraw(active, refused.errors, refused.why);
      return;
    }
    let plan: GroupPlan;
    try {
      const prepared = await this.options.prepare(request.document, request.source, request.operationName);
      // A supergraph loaded during the wait has a replan of its own, which the plan of an older one must not undo.
      if (this.options.supergraph() !== supergraph) return;
      if (active.acrossUsers && !readsOnly(prepared, this.sharedAcrossUsers)) {
        this.invalidate(active, 'it now reads a subgraph whose answers differ from user to user; subscribe again');
        return;
      }
      plan = this.planFor(supergraph, prepared, request);
    } catch (error) {
      // A newer supergraph's replan decides; a planner that is only busy or restarting says nothing of the operation.
      if (this.options.supergraph() !== supergraph) return;
      if (!(error instanceof GraphQLError) || error.extensions.code === ErrorCode.ServiceUnavailable) {
        this.options.logger.warn(
          { err: error, retryMs },
          'a subscription could not be planned on the new supergraph yet; it keeps the old plan until it is',
        );
        this.replanLater(active, supergraph, retryMs);
        return;
      }
      this.invalidate(active, error.message);
      return;
    }
    if (this.active.get(active.key) !== active || active.ended) return;
    const moved = plan.url !== active.plan.url || plan.primary.operation !== active.plan.primary.operation;
    active.plan = plan;
    if (!moved) return;
    const previous = active.events;
    active.events = this.startUpstream(plan, request);
    void this.pump(active, active.events);
    void previous.return?.();
  }

  /**
   * Plans the group again after `retryMs`, unless it ended or a newer supergraph came (whose own replan decides): a
   * reload plans every group at once, and the planner may turn some away while it is busy (503), which says nothing of
   * the operation, and waiting for the next reload could keep a group on a plan that reads subgraphs no longer there.
   */
  private replanLater(active: ActiveGroup, supergraph: LoadedSupergraph, retryMs: number): void {
    const timer = setTimeout(() => {
      if (active.ended || this.options.supergraph() !== supergraph) return;
      void this.replan(active, supergraph, Math.min(retryMs * 2, REPLAN_RETRY_MAX_MS));
    }, retryMs);
    timer.unref();
  }

  /**
   * What ends a subscription that the new supergraph's authorization directives or costs judge otherwise than on
   * subscribing: refused, fields removed that were not, or an estimate above the maximum. One the directives now let
   * read more keeps running as it was planned, on what it was allowed before: it sees no more than it may.
   */
  private refusedOnNewSupergraph(request: SubscriptionRequest): { errors: readonly GraphQLError[]; why: string } | undefined {
    const outcome = this.options.authorize?.(
      request.document,
      request.clientSource,
      request.operationName,
      request.variables,
      request.context,
    );
    const removedBefore = new Set((request.removals ?? []).map(removalKey));
    const removedAnew =
      outcome?.kind === 'refused' ||
      (outcome?.kind === 'filtered' && outcome.errors.some((error) => !removedBefore.has(removalKey(error))));
    if (removedAnew) return { errors: outcome.errors, why: 'This subscription may no longer read what it selects after a schema update' };
    const tooExpensive = this.options.checkCost?.(request.document, request.operationName, request.variables);
    if (tooExpensive) return { errors: [tooExpensive], why: 'This subscription costs more than the gateway allows after a schema update' };
    return undefined;
  }

  /** Ends the group with `errors`, each told as `why`: what the subscription no longer passes on the new supergraph. */
  private withdraw(active: ActiveGroup, errors: readonly GraphQLError[], why: string): void {
    if (active.ended) return;
    this.options.logger.info({ operationName: active.request.operationName }, `${why}; ending it`);
    const updated = errors.map(
      (error) =>
        new GraphQLError(`${why}: ${error.message}`, {
          ...(error.path ? { path: error.path } : {}),
          extensions: error.extensions,
        }),
    );
    for (const error of errors) this.options.onWithdrawn?.(String(error.extensions.code));
    // Sent as they are, without the removals of the old rules, which no longer hold.
    active.fanOut.publish([new GroupEvent({ errors: updated })]);
    this.end(active);
  }

  private invalidate(active: ActiveGroup, reason: string): void {
    this.options.logger.info(
      { operationName: active.request.operationName },
      'a subscription is no longer valid on the new supergraph; ending it',
    );
    this.publish(active, [
      {
        errors: [clientError(ErrorCode.GraphQLValidationFailed, `This subscription is no longer valid after a schema update: ${reason}`)],
      },
    ]);
    this.end(active);
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
   * Resolves the group's events as they arrive, up to {@link EVENTS_RESOLVED_AT_ONCE} at a time, and hands them to
   * every subscriber in the order they came: an event's entity fetches need not wait for the event before it to be
   * fetched and written, and none overtakes it. Events resolved by the time their turn comes are handed over together,
   * so that each connection gets them in one write. Each event is resolved by the group's plan of the moment it
   * arrives. Once a new supergraph has replaced this upstream, what it still resolves is dropped: the new upstream
   * starts with the whole state, and an older event after it would take subscribers back. The group ends with its
   * upstream, unless that upstream was replaced.
   */
  private async pump(active: ActiveGroup, events: AsyncIterableIterator<UpstreamEvent>): Promise<void> {
    /** Events being resolved or waiting for the ones before them, in the order they came. */
    const queue: { result: ExecutionResult | undefined }[] = [];
    let shortened: PromiseWithResolvers<void> | undefined;
    const publishReady = () => {
      let ready = 0;
      while (ready < queue.length && queue[ready]!.result) ready++;
      if (ready === 0) return;
      const results = queue.splice(0, ready).map((entry) => entry.result!);
      if (active.events === events) this.publish(active, results);
      shortened?.resolve();
    };
    /** Resolves once fewer than `count` events are being resolved or wait to be handed to every subscriber. */
    const roomFor = async (count: number) => {
      for (;;) {
        if (queue.length + active.fanOut.backlogLength < count) return;
        if (queue.length === 0) {
          await active.fanOut.settled();
          continue;
        }
        shortened = Promise.withResolvers();
        await shortened.promise;
      }
    };
    for await (const event of events) {
      const entry: { result: ExecutionResult | undefined } = { result: undefined };
      queue.push(entry);
      void this.resolveEvent(active.plan, event)
        .catch((error: unknown): ExecutionResult => {
          this.options.logger.error({ err: error }, 'subscription event could not be resolved');
          return { errors: [clientError(ErrorCode.InternalServerError, 'This event could not be resolved')] };
        })
        .then((result) => {
          entry.result = result;
          publishReady();
        });
      await roomFor(EVENTS_RESOLVED_AT_ONCE);
    }
    await roomFor(1);
    if (active.events === events) this.end(active);
  }

  /** One event's result: the rest of the plan run from it, or the errors it carries. */
  private async resolveEvent(plan: GroupPlan, event: UpstreamEvent): Promise<ExecutionResult> {
    if (!event.data) {
      const serviceName = plan.primary.serviceName;
      return {
        // At the path the subgraph gives: the planner keeps the client's alias of the root field in the upstream operation.
        errors: (event.errors ?? []).map(
          (error) =>
            new GraphQLError(error.message, {
              ...(error.path ? { path: error.path } : {}),
              extensions: { ...error.extensions, serviceName },
            }),
        ),
      };
    }
    try {
      return await plan.resolve(event);
    } catch (error) {
      this.options.logger.error({ err: error }, 'subscription event could not be resolved');
      return { errors: [clientError(ErrorCode.InternalServerError, 'This event could not be resolved')] };
    } finally {
      this.options.onEventResolved?.();
    }
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
