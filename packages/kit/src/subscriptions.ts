import type { IncomingMessage, Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { verifyIdentity, type Identity } from './identity.ts';
import type { Logger } from './logger.ts';

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
}

type Params = Record<string, unknown> | undefined;

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
  const wss = new WebSocketServer({ server: options.server, path: options.path ?? '/graphql' });
  const server = useServer<Params>(
    {
      schema: options.schema,
      onConnect: (ctx) => {
        const verification = verifyIdentity((name) => paramOrHeader(ctx.connectionParams, ctx.extra.request, name), options.internalSecret);
        if (!verification.ok) return false;
        identities.set(ctx.extra.socket, verification.identity);
        return true;
      },
      context: (ctx: Context<Params, { socket: object }>) => options.context(identities.get(ctx.extra.socket)!),
      onError: (_ctx, _id, _payload, errors) => {
        options.logger.debug({ errors: errors.map((error) => error.message) }, 'subscription operation failed');
      },
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );
  return {
    async close() {
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
