import type { IncomingMessage, Server } from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  parse,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { ErrorCode, formatClientError } from '../platform/errors.ts';
import { unstorableTextRefusal } from '../platform/http.ts';
import { verifyIdentity, type Identity } from '../platform/identity.ts';
import type { Logger } from '../platform/logger.ts';

export { CloseCode };

export interface SubscriptionServerOptions<C> {
  server: Server;
  schema: GraphQLSchema;
  /** @default '/graphql' */
  path?: string;
  internalSecret: string;
  /** The context of one subscription (or query) over the socket, for the identity the connection proved. */
  context(identity: Identity): C;
  logger: Logger;
  /** Server pings this often so that idle connections survive proxies. @default 12000 */
  keepAliveMs?: number;
  /** The largest message a caller may send; a larger one closes its connection with 1009. @default 1 MiB, as the gateway's */
  maxPayloadBytes?: number;
}

type Params = Record<string, unknown> | undefined;

function formatted(error: GraphQLError | GraphQLFormattedError): GraphQLFormattedError {
  return formatClientError(error instanceof GraphQLError ? error.toJSON() : error, error);
}

/**
 * The operation a request runs, or the refusal of a document that does not parse: graphql-ws parses without catching,
 * and would close the whole connection with 4500 over one malformed document.
 */
function operationOf(query: string, operationName: string | null | undefined): OperationDefinitionNode | null | GraphQLError {
  let document;
  try {
    document = parse(query);
  } catch (error) {
    return new GraphQLError((error as Error).message, { extensions: { code: ErrorCode.GraphQLParseFailed } });
  }
  return getOperationAST(document, operationName) ?? null;
}

/**
 * graphql-ws reports a document that does not parse or validate with graphql-js's errors, which carry no code: coded
 * as Apollo Server codes them over HTTP, rather than read as internal errors.
 */
function withRefusalCode(error: GraphQLError): GraphQLError {
  if (error.extensions.code !== undefined) return error;
  const code = error.message.startsWith('Syntax Error') ? ErrorCode.GraphQLParseFailed : ErrorCode.GraphQLValidationFailed;
  return new GraphQLError(error.message, { nodes: error.nodes, extensions: { code } });
}

function paramOrHeader(params: Params, request: IncomingMessage, name: string): string | undefined {
  const fromParams = params?.[name];
  if (typeof fromParams === 'string') return fromParams;
  const fromHeader = request.headers[name];
  return Array.isArray(fromHeader) ? fromHeader[0] : fromHeader;
}

/**
 * GraphQL over WebSocket (the graphql-ws protocol) on the subgraph's own port and path. Callers prove
 * who they are as over HTTP, with the identity the gateway signs, sent in `connection_init` (or the
 * upgrade request's headers); a connection without a valid signature is closed with 4403.
 */
export function serveSubscriptions<C extends object>(options: SubscriptionServerOptions<C>): { close(): Promise<void> } {
  const identities = new WeakMap<object, Identity>();
  const wss = new WebSocketServer({
    server: options.server,
    path: options.path ?? '/graphql',
    maxPayload: options.maxPayloadBytes ?? 1024 * 1024,
  });
  const server = useServer<Params>(
    {
      isProd: true,
      schema: options.schema,
      onConnect: (ctx) => {
        const verification = verifyIdentity((name) => paramOrHeader(ctx.connectionParams, ctx.extra.request, name), options.internalSecret);
        if (!verification.ok) return false;
        identities.set(ctx.extra.socket, verification.identity);
        return true;
      },
      context: (ctx: Context<Params, { socket: object }>) => options.context(identities.get(ctx.extra.socket)!),
      // As over HTTP: PostgreSQL cannot store such text, and its refusal would read as the database being down.
      onSubscribe: (_ctx, _id, payload) => {
        const unstorable = unstorableTextRefusal(payload.query, payload.variables);
        if (unstorable) return [new GraphQLError(unstorable, { extensions: { code: ErrorCode.BadUserInput } })];
        // A connection outlives the age at which a signed identity is refused over HTTP (the gateway's subscriptions run
        // for hours), so it streams subscriptions only: a captured identity replayed here cannot write anything.
        const operation = operationOf(payload.query, payload.operationName);
        if (operation instanceof GraphQLError) return [operation];
        // Without one operation to run, graphql-ws refuses the document itself.
        if (operation && operation.operation !== OperationTypeNode.SUBSCRIPTION)
          return [
            new GraphQLError('Only subscriptions are served over WebSocket; send queries and mutations over HTTP', {
              extensions: { code: ErrorCode.BadRequest },
            }),
          ];
        return undefined;
      },
      // Errors leave over WebSocket shaped as over HTTP: a known code and its message, nothing internal.
      onNext: (_ctx, _id, _payload, _args, result) => {
        const { errors, ...rest } = result as ExecutionResult;
        if (!errors) return undefined;
        for (const error of errors)
          if (formatted(error).extensions?.code === ErrorCode.InternalServerError)
            options.logger.error({ err: error }, 'subscription event failed');
        return { ...rest, errors: errors.map(formatted) };
      },
      onError: (_ctx, _id, _payload, errors) => {
        options.logger.debug({ errors: errors.map((error) => error.message) }, 'subscription operation failed');
        return errors.map((error) => formatted(withRefusalCode(error)));
      },
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );
  // Registered after graphql-ws's own listener, which logs every socket error to the console as an internal error: a
  // message over the size limit is the caller's doing, and ws has already closed that socket with 1009.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') options.logger.debug({ err: error }, 'WebSocket message over the size limit');
      else options.logger.warn({ err: error }, 'WebSocket connection failed');
    });
  });
  return {
    async close() {
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
