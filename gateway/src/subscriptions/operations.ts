import { randomUUID } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import {
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  OperationTypeNode,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { clientError, ErrorCode, formatClientError, unstorableTextRefusal, type Identity, type Logger } from '@nexusflow/kit/core';
import type { Admission, GraphQLRequestParams } from '../admission/admission.ts';
import { OperationRefused } from '../admission/operation-limits.ts';
import type { GatewayContext } from '../context.ts';
import { DeferDirectiveRule } from '../execution/defer-rules.ts';
import type { FederatedSubscribeArgs, FederatedSubscriptions, SubscriptionSink } from './federated.ts';

/** Who asks, as the transport established it. */
export interface StreamingCaller {
  identity: Identity;
  clientAddress: string;
  /** The `User-Agent` of the request that opened the connection or stream. */
  userAgent?: string;
  /** The client the connection parameters named (`apollographql-client-name`…), for usage reporting. */
  client?: { name: string; version: string };
}

/** An operation the edge let through, ready to run. */
export interface PreparedStreamingOperation {
  schema: GraphQLSchema;
  document: DocumentNode;
  /** The text to run, the client's or a trusted document's; of a subscription, what authorization left of it. */
  query: string;
  /** The client's or trusted document's text, before authorization. */
  clientQuery: string;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  kind: OperationTypeNode;
  context: GatewayContext;
  /** Errors of the fields authorization removed from a subscription, sent with each of its events. */
  removals?: GraphQLError[];
}

/** Demand control's refusal of a subscription's estimated cost, if any. */
export type CheckSubscriptionCost = (
  document: DocumentNode,
  operationName: string | undefined,
  variables: Record<string, unknown>,
) => GraphQLError | undefined;

/** How the authorization directives judge a subscription for its caller (features/authorization.ts). */
export type AuthorizeSubscription = (
  document: DocumentNode,
  source: string,
  operationName: string | undefined,
  variables: Record<string, unknown>,
  context: GatewayContext,
) => SubscriptionAuthorization;

/** What the authorization directives make of a subscription (features/authorization.ts). */
export type SubscriptionAuthorization =
  { kind: 'allowed' } | { kind: 'filtered'; source: string; errors: GraphQLError[] } | { kind: 'refused'; errors: GraphQLError[] };

export interface StreamingOperationsOptions {
  apollo: ApolloServer<GatewayContext>;
  federated: FederatedSubscriptions;
  schema: () => GraphQLSchema | undefined;
  admission: Admission;
  /** While true, only documents the gateway already knows are run. */
  overloaded: () => boolean;
  /** Draws one request from the caller's rate limits; the refusal, if any. */
  rateLimit?: (caller: StreamingCaller) => Promise<GraphQLError | undefined>;
  /** The estimated cost of a subscription, refused above the maximum (Apollo Server's plugins check queries and mutations). */
  checkCost?: CheckSubscriptionCost;
  /**
   * The authorization directives, before a subscription is planned: what the caller may not see is removed (the
   * planned text is `source`, its errors sent with every event), and a subscription with nothing left is refused.
   */
  authorize?: AuthorizeSubscription;
  /** Called for every operation refused before execution, with its code. */
  onRefused?: (code: string) => void;
  introspection: boolean;
  logger: Logger;
}

/** The "Did you mean …?" graphql-js ends a message with, naming fields, types or enum values of the schema. */
export const SUGGESTION = / Did you mean .*\?$/;

/** Every error leaving over a streaming transport, whatever produced it: a known code and its message, nothing internal. */
export function formatted(error: GraphQLError | GraphQLFormattedError): GraphQLFormattedError {
  return formatClientError(error instanceof GraphQLError ? error.toJSON() : error, error);
}

/** A result as a client may see it: errors shaped as over HTTP. */
export function formattedResult(result: ExecutionResult | FormattedExecutionResult): FormattedExecutionResult {
  const { errors, ...rest } = result as Omit<ExecutionResult, 'errors'> & { errors?: readonly (GraphQLError | GraphQLFormattedError)[] };
  return errors ? { ...rest, errors: errors.map(formatted) } : rest;
}

/**
 * What every streaming transport (graphql-ws, Server-Sent Events, multipart HTTP) does with an operation, so that
 * each passes the same edge as a plain HTTP request: rate limits, trusted documents, operation limits, load
 * shedding, validation (without schema hints when introspection is off) and cost. A refusal is GraphQL errors for
 * that one operation; queries and mutations then run through Apollo Server, exactly as over HTTP, and subscriptions
 * through the federated subscriptions.
 */
export class StreamingOperations {
  /**
   * Validation errors by schema and document. Validation depends on nothing else, and the admission hands out one parsed
   * document per text, so that ten thousand clients subscribing with the same text are validated once, not each time.
   */
  private readonly validated = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, readonly GraphQLError[]>>();

  constructor(private readonly options: StreamingOperationsOptions) {}

  private validate(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] {
    let bySchema = this.validated.get(schema);
    if (!bySchema) this.validated.set(schema, (bySchema = new WeakMap()));
    let errors = bySchema.get(document);
    if (!errors) {
      const rules = [...specifiedRules, DeferDirectiveRule, ...(this.options.introspection ? [] : [NoSchemaIntrospectionCustomRule])];
      errors = validate(schema, document, rules);
      bySchema.set(document, errors);
    }
    return errors;
  }

  async prepare(caller: StreamingCaller, payload: GraphQLRequestParams): Promise<PreparedStreamingOperation | GraphQLError[]> {
    const refuse = (error: GraphQLError): GraphQLError[] => {
      this.options.onRefused?.(String(error.extensions.code));
      return [error];
    };
    const limited = await this.options.rateLimit?.(caller);
    if (limited) return refuse(limited);
    let admitted;
    try {
      admitted = this.options.admission.admit(payload, { knownOnly: this.options.overloaded() });
    } catch (error) {
      if (error instanceof OperationRefused) return refuse(error.toGraphQLError());
      if (error instanceof GraphQLError) {
        return refuse(
          new GraphQLError(error.message, {
            nodes: error.nodes,
            source: error.source,
            positions: error.positions,
            extensions: { code: ErrorCode.GraphQLParseFailed },
          }),
        );
      }
      throw error;
    }
    if (!admitted) return refuse(clientError(ErrorCode.BadRequest, 'The operation has no query'));
    const schema = this.options.schema();
    if (!schema) return [clientError(ErrorCode.ServiceUnavailable, 'No supergraph loaded yet')];
    const operationName = typeof payload.operationName === 'string' ? payload.operationName : undefined;
    const operation = getOperationAST(admitted.document, operationName);
    if (!operation) return refuse(clientError(ErrorCode.OperationResolutionFailure, 'Unable to identify the operation to run'));
    const variables = (typeof payload.variables === 'object' && payload.variables !== null ? payload.variables : {}) as Record<
      string,
      unknown
    >;
    // Refused here as over HTTP, before any subgraph sees it: PostgreSQL cannot store such text.
    const unstorable = unstorableTextRefusal(admitted.query, variables);
    if (unstorable) return refuse(clientError(ErrorCode.BadUserInput, unstorable));
    if (operation.operation === OperationTypeNode.SUBSCRIPTION) {
      const errors = this.validate(schema, admitted.document);
      if (errors.length > 0) {
        const hide = !this.options.introspection;
        return errors.map(
          (error) =>
            new GraphQLError(hide ? error.message.replace(SUGGESTION, '') : error.message, {
              nodes: error.nodes,
              extensions: { code: ErrorCode.GraphQLValidationFailed },
            }),
        );
      }
      const tooExpensive = this.options.checkCost?.(admitted.document, operationName, variables);
      if (tooExpensive) return refuse(tooExpensive);
    }
    const context: GatewayContext = {
      identity: caller.identity,
      requestId: randomUUID(),
      clientAddress: caller.clientAddress,
      ...(caller.userAgent ? { userAgent: caller.userAgent } : {}),
      ...(caller.client ? { client: caller.client } : {}),
    };
    // Queries and mutations are authorized by the gateway's executor, which Apollo Server runs them through.
    const authorized =
      operation.operation === OperationTypeNode.SUBSCRIPTION
        ? this.options.authorize?.(admitted.document, admitted.query, operationName, variables, context)
        : undefined;
    if (authorized?.kind === 'refused') {
      for (const error of authorized.errors) this.options.onRefused?.(String(error.extensions.code));
      return authorized.errors;
    }
    return {
      schema,
      document: admitted.document,
      query: authorized?.kind === 'filtered' ? authorized.source : admitted.query,
      clientQuery: admitted.query,
      operationName,
      variables,
      kind: operation.operation,
      context,
      ...(authorized?.kind === 'filtered' ? { removals: authorized.errors } : {}),
    };
  }

  /** Runs a prepared operation; never throws, so that no transport closes a connection over one operation's failure. */
  async run(prepared: PreparedStreamingOperation): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    try {
      if (prepared.kind === OperationTypeNode.SUBSCRIPTION) return await this.options.federated.subscribe(this.subscription(prepared));
      const response = await this.options.apollo.executeOperation(
        { query: prepared.query, variables: prepared.variables, operationName: prepared.operationName },
        { contextValue: prepared.context },
      );
      if (response.body.kind !== 'single')
        return { errors: [clientError(ErrorCode.BadRequest, 'Incremental delivery is not supported on this transport')] };
      return response.body.singleResult as ExecutionResult;
    } catch (error) {
      return this.failed(error);
    }
  }

  /**
   * Runs a prepared subscription by handing each of its events to `sink` as its group resolves it (see
   * {@link FederatedSubscriptions.attach}), for transports that write events out themselves; what detaches it, or the
   * result that ends it at once. Never throws.
   */
  async attach(prepared: PreparedStreamingOperation, sink: SubscriptionSink): Promise<(() => void) | ExecutionResult> {
    try {
      return await this.options.federated.attach(this.subscription(prepared), sink);
    } catch (error) {
      return this.failed(error);
    }
  }

  /** Planned from `query` (what authorization left of the document), shaped by the client's document. */
  private subscription(prepared: PreparedStreamingOperation): FederatedSubscribeArgs {
    return {
      document: prepared.document,
      source: prepared.query,
      clientSource: prepared.clientQuery,
      operationName: prepared.operationName,
      variables: prepared.variables,
      context: prepared.context,
      ...(prepared.removals ? { removals: prepared.removals } : {}),
      authorizedOn: prepared.schema,
    };
  }

  private failed(error: unknown): ExecutionResult {
    if (!(error instanceof GraphQLError) || formatted(error).extensions?.code === ErrorCode.InternalServerError) {
      this.options.logger.error({ err: error }, 'streaming operation failed');
    }
    return { errors: [error instanceof GraphQLError ? error : clientError(ErrorCode.InternalServerError, 'Internal server error')] };
  }
}
