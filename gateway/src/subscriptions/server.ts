import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import { GraphQLError, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { ANONYMOUS, ErrorCode, verifyAccessToken, type Identity, type Logger } from '@nexusflow/kit/core';
import type { GatewayContext } from '../context.ts';
import type { FederatedSubscriptions } from './federated.ts';

export interface GatewaySubscriptionOptions {
  server: Server;
  path: string;
  apollo: ApolloServer<GatewayContext>;
  federated: FederatedSubscriptions;
  schema: () => GraphQLSchema | undefined;
  jwtSecret: string;
  logger: Logger;
  /** @default 100 */
  maxSubscriptionsPerConnection: number;
  /** @default 1000 */
  maxConnectionsPerTenant: number;
  /** Seconds a client has to send connection_init before the connection closes with 4408. @default 10 */
  connectionInitWaitTimeoutMs?: number;
  /** @default 12000 */
  keepAliveMs?: number;
  onConnectionCount?: (open: number) => void;
}

type Params = Record<string, unknown> | undefined;
type Extra = { socket: WebSocket };

/** The access token from `connection_init`: `{ authorization: "Bearer …" }` as on HTTP, or `{ token }`. */
function tokenFrom(params: Params): string | undefined {
  const header = params?.authorization ?? params?.Authorization;
  if (typeof header === 'string') return /^Bearer\s+(\S+)$/i.exec(header.trim())?.[1] ?? header;
  return typeof params?.token === 'string' ? params.token : undefined;
}

const tooMany = (message: string) => new GraphQLError(message, { extensions: { code: ErrorCode.RateLimited } });

/**
 * GraphQL over WebSocket on the gateway's own port and path: subscriptions, planned and executed
 * across subgraphs, and queries and mutations too, executed like HTTP ones. Protocol violations get
 * graphql-ws's close codes (4400, 4401, 4408, 4409, 4429); a refused token closes with 4403.
 */
export function serveGatewaySubscriptions(options: GatewaySubscriptionOptions) {
  const identities = new WeakMap<object, Identity>();
  const operations = new WeakMap<object, Set<string>>();
  const tenantConnections = new Map<string, number>();
  let connections = 0;
  const wss = new WebSocketServer({ server: options.server, path: options.path });

  const server = useServer<Params, Extra>(
    {
      schema: () => {
        const schema = options.schema();
        if (!schema) throw new Error('No supergraph loaded yet');
        return schema;
      },
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? 10_000,
      onConnect: async (ctx: Context<Params, Extra>) => {
        const token = tokenFrom(ctx.connectionParams);
        let identity: Identity = ANONYMOUS;
        if (token) {
          const verification = await verifyAccessToken(token, options.jwtSecret);
          if (!verification.ok) return false;
          identity = verification.identity;
        }
        if (identity.kind === 'user') {
          const open = tenantConnections.get(identity.tenantId) ?? 0;
          if (open >= options.maxConnectionsPerTenant) {
            ctx.extra.socket.close(CloseCode.Forbidden, 'Too many connections for this tenant');
            return false;
          }
          tenantConnections.set(identity.tenantId, open + 1);
        }
        identities.set(ctx.extra.socket, identity);
        operations.set(ctx.extra.socket, new Set());
        options.onConnectionCount?.(++connections);
        return true;
      },
      onDisconnect: (ctx: Context<Params, Extra>) => {
        const identity = identities.get(ctx.extra.socket);
        if (!identity) return;
        if (identity.kind === 'user') tenantConnections.set(identity.tenantId, Math.max(0, (tenantConnections.get(identity.tenantId) ?? 1) - 1));
        options.onConnectionCount?.(--connections);
      },
      onSubscribe: (ctx: Context<Params, Extra>, id) => {
        const active = operations.get(ctx.extra.socket);
        if (active && active.size >= options.maxSubscriptionsPerConnection) {
          return [tooMany(`At most ${options.maxSubscriptionsPerConnection} operations at once on one connection`)];
        }
        active?.add(id);
        return undefined;
      },
      onComplete: (ctx: Context<Params, Extra>, id) => {
        operations.get(ctx.extra.socket)?.delete(id);
      },
      context: (ctx: Context<Params, Extra>): GatewayContext => ({ identity: identities.get(ctx.extra.socket) ?? ANONYMOUS, requestId: randomUUID() }),
      subscribe: (args) =>
        options.federated.subscribe({
          document: args.document,
          operationName: args.operationName,
          variables: args.variableValues as Record<string, unknown> | undefined,
          context: args.contextValue as GatewayContext,
        }),
      execute: async (args): Promise<ExecutionResult> => {
        const response = await options.apollo.executeOperation(
          { query: args.document, variables: (args.variableValues ?? undefined) as Record<string, unknown> | undefined, operationName: args.operationName ?? undefined },
          { contextValue: args.contextValue as GatewayContext },
        );
        if (response.body.kind !== 'single') return { errors: [new GraphQLError('Incremental delivery is not supported over WebSocket')] };
        return response.body.singleResult as ExecutionResult;
      },
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );

  return {
    async close(): Promise<void> {
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
