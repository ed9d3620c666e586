import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import {
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  OperationTypeNode,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { CloseCode, type Context, type SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { ANONYMOUS, clientError, ErrorCode, formatClientError, verifyAccessToken, type Identity, type Logger } from '@nexusflow/kit/core';
import type { Admission } from '../admission/admission.ts';
import { OperationRefused } from '../admission/operation-limits.ts';
import type { GatewayContext } from '../context.ts';
import type { FederatedSubscriptions } from './federated.ts';

/** Why the gateway closes a client's connection, beyond graphql-ws's own protocol codes. */
export enum GatewayCloseReason {
  TokenExpired = 'Access token has expired',
  TooManyTenantConnections = 'Too many connections for this tenant',
  TooManyAnonymousConnections = 'Too many anonymous connections from this address',
}

/** A refusal by the gateway's limits, as GraphQL errors on the one operation it concerns. */
export type OperationCheck = (request: { identity: Identity; clientAddress: string }) => Promise<GraphQLError | undefined>;

export interface GatewaySubscriptionOptions {
  server: Server;
  path: string;
  apollo: ApolloServer<GatewayContext>;
  federated: FederatedSubscriptions;
  schema: () => GraphQLSchema | undefined;
  jwtSecret: string;
  logger: Logger;
  admission: Admission;
  /** While true, only documents the gateway already knows are run; others get SERVICE_UNAVAILABLE. */
  overloaded?: () => boolean;
  /** The client's address, as HTTP requests take it (trusted proxy hops included). */
  clientAddressOf: (request: IncomingMessage) => string;
  /** Draws one request from the caller's rate limits; answers the refusal, if any. Runs for every operation and every connection. */
  rateLimit?: OperationCheck;
  /** The estimated cost of a subscription, refused above the maximum (queries and mutations are checked by Apollo Server's plugins). */
  checkCost?: (document: DocumentNode, operationName: string | undefined, variables: Record<string, unknown>) => GraphQLError | undefined;
  /** Called for every operation refused before execution, with its code. */
  onRefused?: (code: string) => void;
  /** Schema introspection allowed; off also hides "Did you mean" suggestions. */
  introspection: boolean;
  /** Largest message accepted, as HTTP bodies; a larger one closes the connection with 1009. @default 1 MiB */
  maxPayloadBytes?: number;
  /** @default 100 */
  maxSubscriptionsPerConnection: number;
  /** @default 1000 */
  maxConnectionsPerTenant: number;
  /** @default 20 */
  maxAnonymousConnectionsPerAddress: number;
  /** Milliseconds a client has to send connection_init before the connection closes with 4408. @default 10000 */
  connectionInitWaitTimeoutMs?: number;
  /** @default 12000 */
  keepAliveMs?: number;
  onConnectionCount?: (open: number) => void;
  /** @default Date.now */
  now?: () => number;
}

type Params = Record<string, unknown> | undefined;
type Extra = { socket: WebSocket; request: IncomingMessage };

interface Connection {
  identity: Identity;
  clientAddress: string;
  operations: Set<string>;
  expiry?: NodeJS.Timeout;
}

/** The access token from `connection_init`: `{ authorization: "Bearer …" }` as on HTTP, or `{ token }`. */
function tokenFrom(params: Params): string | undefined {
  const header = params?.authorization ?? params?.Authorization;
  if (typeof header === 'string') return /^Bearer\s+(\S+)$/i.exec(header.trim())?.[1] ?? header;
  return typeof params?.token === 'string' ? params.token : undefined;
}

/** setTimeout's longest delay; a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const SUGGESTION = / Did you mean .*\?$/;

/** A validation error as a client sees it; without the schema hints when introspection is off. */
function validationError(error: GraphQLError, hideSuggestions: boolean): GraphQLError {
  const message = hideSuggestions ? error.message.replace(SUGGESTION, '') : error.message;
  return new GraphQLError(message, { nodes: error.nodes, extensions: { code: ErrorCode.GraphQLValidationFailed } });
}

/** Every error leaving over WebSocket, whatever produced it: a known code and its message, nothing internal. */
function formatted(error: GraphQLError | GraphQLFormattedError): GraphQLFormattedError {
  return formatClientError(error instanceof GraphQLError ? error.toJSON() : error);
}

/**
 * GraphQL over WebSocket on the gateway's own port and path: subscriptions, planned and executed across subgraphs,
 * and queries and mutations, executed as HTTP ones are. Every operation passes the same edge as HTTP: rate limits,
 * the body limit (as the message limit), trusted documents, operation limits and cost. A refusal or an error is
 * GraphQL errors on that one operation, never a closed connection. Protocol violations get graphql-ws's close codes
 * (4400, 4401, 4408, 4409, 4429); a refused token, or a connection over a limit, closes with 4403; a connection whose
 * access token expires closes with 4401, and the client reconnects with a fresh token.
 */
export function serveGatewaySubscriptions(options: GatewaySubscriptionOptions) {
  const now = options.now ?? Date.now;
  const connections = new WeakMap<object, Connection>();
  /** The text each operation runs, by its execution context, for queries and mutations handed to Apollo Server. */
  const sources = new WeakMap<object, string>();
  const tenantConnections = new Map<string, number>();
  const anonymousConnections = new Map<string, number>();
  let open = 0;
  const wss = new WebSocketServer({ server: options.server, path: options.path, maxPayload: options.maxPayloadBytes ?? 1024 * 1024 });

  const adjust = (counts: Map<string, number>, key: string, delta: number) => {
    const next = (counts.get(key) ?? 0) + delta;
    if (next > 0) counts.set(key, next);
    else counts.delete(key);
  };

  const expireAt = (socket: WebSocket, connection: Connection, expiresAt: number) => {
    const remaining = expiresAt - now();
    if (remaining <= 0) {
      socket.close(CloseCode.Unauthorized, GatewayCloseReason.TokenExpired);
      return;
    }
    connection.expiry = setTimeout(() => expireAt(socket, connection, expiresAt), Math.min(remaining, MAX_TIMER_MS));
    connection.expiry.unref();
  };

  const refuse = (error: GraphQLError): GraphQLError[] => {
    options.onRefused?.(String(error.extensions.code));
    return [error];
  };

  const server = useServer<Params, Extra>(
    {
      // Whatever the environment: an internal error's message never becomes a close reason a client reads.
      isProd: true,
      schema: () => {
        const schema = options.schema();
        if (!schema) throw new Error('No supergraph loaded yet');
        return schema;
      },
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? 10_000,
      onConnect: async (ctx: Context<Params, Extra>) => {
        const { socket, request } = ctx.extra;
        const clientAddress = options.clientAddressOf(request);
        const token = tokenFrom(ctx.connectionParams);
        let identity: Identity = ANONYMOUS;
        let expiresAt: number | undefined;
        if (token) {
          const verification = await verifyAccessToken(token, options.jwtSecret, now());
          if (!verification.ok) return false;
          identity = verification.identity;
          expiresAt = verification.expiresAt.getTime();
        }
        // A connection is a request too: opening connections in a loop draws from the same budgets.
        const limited = await options.rateLimit?.({ identity, clientAddress });
        if (limited) {
          socket.close(CloseCode.Forbidden, String(limited.message).slice(0, 120));
          return false;
        }
        if (identity.kind === 'user') {
          if ((tenantConnections.get(identity.tenantId) ?? 0) >= options.maxConnectionsPerTenant) {
            socket.close(CloseCode.Forbidden, GatewayCloseReason.TooManyTenantConnections);
            return false;
          }
          adjust(tenantConnections, identity.tenantId, 1);
        } else {
          if ((anonymousConnections.get(clientAddress) ?? 0) >= options.maxAnonymousConnectionsPerAddress) {
            socket.close(CloseCode.Forbidden, GatewayCloseReason.TooManyAnonymousConnections);
            return false;
          }
          adjust(anonymousConnections, clientAddress, 1);
        }
        const connection: Connection = { identity, clientAddress, operations: new Set() };
        connections.set(socket, connection);
        if (expiresAt !== undefined) expireAt(socket, connection, expiresAt);
        options.onConnectionCount?.(++open);
        return true;
      },
      onDisconnect: (ctx: Context<Params, Extra>) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection) return;
        clearTimeout(connection.expiry);
        if (connection.identity.kind === 'user') adjust(tenantConnections, connection.identity.tenantId, -1);
        else adjust(anonymousConnections, connection.clientAddress, -1);
        options.onConnectionCount?.(--open);
      },
      onSubscribe: async (ctx: Context<Params, Extra>, id: string, payload: SubscribePayload): Promise<ExecutionArgs | GraphQLError[]> => {
        const connection = connections.get(ctx.extra.socket)!;
        if (connection.operations.size >= options.maxSubscriptionsPerConnection) {
          return refuse(clientError(ErrorCode.RateLimited, `At most ${options.maxSubscriptionsPerConnection} operations at once on one connection`));
        }
        const limited = await options.rateLimit?.(connection);
        if (limited) return refuse(limited);
        let admitted;
        try {
          admitted = options.admission.admit(payload, { knownOnly: options.overloaded?.() ?? false });
        } catch (error) {
          if (error instanceof OperationRefused) return refuse(error.toGraphQLError());
          if (error instanceof GraphQLError) {
            return refuse(new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { code: ErrorCode.GraphQLParseFailed } }));
          }
          throw error;
        }
        if (!admitted) return refuse(clientError(ErrorCode.BadRequest, 'The operation has no query'));
        const schema = options.schema();
        if (!schema) return [clientError(ErrorCode.ServiceUnavailable, 'No supergraph loaded yet')];
        const { document, query } = admitted;
        const operationName = payload.operationName ?? undefined;
        const operation = getOperationAST(document, operationName);
        if (!operation) return refuse(clientError(ErrorCode.OperationResolutionFailure, 'Unable to identify the operation to run'));
        const variables = (payload.variables ?? {}) as Record<string, unknown>;
        const contextValue: GatewayContext = { identity: connection.identity, requestId: randomUUID(), clientAddress: connection.clientAddress };
        if (operation.operation === OperationTypeNode.SUBSCRIPTION) {
          // Queries and mutations are validated and costed by Apollo Server, as over HTTP; subscriptions here.
          const rules = options.introspection ? specifiedRules : [...specifiedRules, NoSchemaIntrospectionCustomRule];
          const errors = validate(schema, document, rules);
          if (errors.length > 0) return errors.map((error) => validationError(error, !options.introspection));
          const tooExpensive = options.checkCost?.(document, operationName, variables);
          if (tooExpensive) return refuse(tooExpensive);
        }
        connection.operations.add(id);
        sources.set(contextValue, query);
        return { schema, document, operationName, variableValues: variables, contextValue };
      },
      onComplete: (ctx: Context<Params, Extra>, id) => {
        connections.get(ctx.extra.socket)?.operations.delete(id);
      },
      subscribe: async (args): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
        const context = args.contextValue as GatewayContext;
        try {
          return await options.federated.subscribe({
            document: args.document,
            source: sources.get(context)!,
            operationName: args.operationName,
            variables: args.variableValues as Record<string, unknown> | undefined,
            context,
          });
        } catch (error) {
          if (!(error instanceof GraphQLError) || formatted(error).extensions?.code === ErrorCode.InternalServerError) {
            options.logger.error({ err: error }, 'subscription could not start');
          }
          return { errors: [error instanceof GraphQLError ? error : clientError(ErrorCode.InternalServerError, 'Internal server error')] };
        }
      },
      execute: async (args): Promise<ExecutionResult> => {
        const context = args.contextValue as GatewayContext;
        try {
          const response = await options.apollo.executeOperation(
            { query: sources.get(context)!, variables: (args.variableValues ?? undefined) as Record<string, unknown> | undefined, operationName: args.operationName ?? undefined },
            { contextValue: context },
          );
          if (response.body.kind !== 'single') return { errors: [clientError(ErrorCode.BadRequest, 'Incremental delivery is not supported over WebSocket')] };
          return response.body.singleResult as ExecutionResult;
        } catch (error) {
          options.logger.error({ err: error }, 'operation over WebSocket failed');
          return { errors: [clientError(ErrorCode.InternalServerError, 'Internal server error')] };
        }
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        const { errors, ...rest } = result as ExecutionResult & { errors?: (GraphQLError | GraphQLFormattedError)[] };
        return errors ? { ...rest, errors: errors.map(formatted) } : undefined;
      },
      onError: (_ctx, _id, _payload, errors) => errors.map(formatted),
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );

  // Registered after graphql-ws's own listener, which logs every socket error as an internal error and closes with
  // 4500: a message over the size limit is the client's doing, and ws has already closed that socket with 1009.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') options.onRefused?.(ErrorCode.PayloadTooLarge);
      else options.logger.warn({ err: error }, 'WebSocket connection failed');
    });
  });

  return {
    async close(): Promise<void> {
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
