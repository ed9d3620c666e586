import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { GraphQLError, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { CloseCode, type Context, type SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import { clientError, ErrorCode, type Logger } from '@nexusflow/kit/core';
import { runDeferring } from '../features/incremental-delivery.ts';
import { clientIdentityOf } from '../features/usage-reporting.ts';
import type { ApiKeyLookup } from '../api-keys.ts';
import { authenticateCredentials, isRefusal, SESSION_REVOKED_MESSAGE, type AccessTokenKeys } from '../authenticate.ts';
import type { GatewayContext } from '../context.ts';
import type { SessionRevocationCheck } from '../session-revocation.ts';
import { onExpiry, StreamRefusal, watchRevocation, type ConnectionLimits, type RevocationWatch } from './connection-limits.ts';
import type { SubscriptionSink } from './federated.ts';
import {
  formatted,
  formattedResult,
  type PreparedStreamingOperation,
  type StreamingCaller,
  type StreamingOperations,
} from './operations.ts';

export interface GatewaySubscriptionOptions {
  server: Server;
  path: string;
  operations: StreamingOperations;
  connections: ConnectionLimits;
  schema: () => GraphQLSchema | undefined;
  jwtSecret: AccessTokenKeys;
  /** Resolves API keys sent as `{ apiKey }` or a bearer `nfk_…` in connection params. */
  apiKeys?: ApiKeyLookup;
  /** Refuses access tokens of revoked sessions, at connection and while the connection is open. */
  revokedSessions?: SessionRevocationCheck;
  /** How often an open connection's session is checked against revoked sessions. @default 1000 */
  revocationCheckIntervalMs?: number;
  logger: Logger;
  /** The client's address, as HTTP requests take it (trusted proxy hops included). */
  clientAddressOf: (request: IncomingMessage) => string;
  /** Draws one request from the caller's rate limits for the connection itself; the refusal, if any. */
  rateLimit?: (caller: StreamingCaller) => Promise<GraphQLError | undefined>;
  /** Called for every operation refused before execution, with its code. */
  onRefused?: (code: string) => void;
  /** Largest message accepted, as HTTP bodies; a larger one closes the connection with 1009. @default 1 MiB */
  maxPayloadBytes?: number;
  /** @default 100 */
  maxSubscriptionsPerConnection: number;
  /** Milliseconds a client has to send connection_init before the connection closes with 4408. @default 10000 */
  connectionInitWaitTimeoutMs?: number;
  /** @default 12000 */
  keepAliveMs?: number;
  /** @default Date.now */
  now?: () => number;
  /**
   * Bytes a connection may have waiting to be sent before it is dropped: a client that reads slower than its events
   * arrive is cut off, rather than held in memory, and reconnects (graphql-ws clients retry after an abnormal closure) to
   * the latest state. Writes never wait for a slow client, so it holds up nobody else meanwhile. @default 8 MiB
   */
  maxBufferedBytes?: number;
}

type Params = Record<string, unknown> | undefined;
type Extra = { socket: WebSocket; request: IncomingMessage };

/** An operation the edge let through, and the socket and id its messages go out with. */
interface SocketOperation {
  operation: PreparedStreamingOperation;
  socket: WebSocket;
  id: string;
}

/** The TCP socket under a ws WebSocket, which ws does not expose but keeps as `_socket`. */
function tcpSocketOf(socket: WebSocket): Socket | undefined {
  return (socket as unknown as { _socket?: Socket })._socket;
}

/** FIN and the text opcode: the first byte of every unfragmented text frame. */
const TEXT_FRAME = 0x81;

/** The length of an unmasked frame header (RFC 6455 §5.2) for a payload of `length` bytes. */
function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

/** Writes an unmasked text frame's header at `offset`, as a server sends it; returns where the payload starts. */
function writeFrameHeader(target: Buffer, offset: number, length: number): number {
  target[offset] = TEXT_FRAME;
  if (length < 126) {
    target[offset + 1] = length;
    return offset + 2;
  }
  if (length < 0x10000) {
    target[offset + 1] = 126;
    target.writeUInt16BE(length, offset + 2);
    return offset + 4;
  }
  target[offset + 1] = 127;
  target.writeBigUInt64BE(BigInt(length), offset + 2);
  return offset + 10;
}

/** One connection's messages of the fan-out under way: message i is `prefixes[i]` + `tails[i]`. */
interface PendingFrames {
  socket: WebSocket;
  tcp: Socket;
  prefixes: Buffer[];
  tails: Buffer[];
  bytes: number;
}

/**
 * Writes subscription events to many connections at once. Groups hand an event to one connection's subscriptions one
 * after another ({@link SubscriptionSink.channel}); their messages are gathered, framed into one buffer and written
 * with one `write` as soon as the fan-out moves on to another connection (or the turn is over). Nothing waits for the
 * whole fan-out, and only one connection's messages are held at a time.
 *
 * The frames are written to the connection's TCP socket, past ws's sender, which would allocate and write a header
 * and a payload per message. That keeps ws's order of frames: its sender writes each frame whole and synchronously
 * unless a compression extension is negotiated or it is handed a Blob (its queue is for those two); a connection with
 * an extension goes through ws's `send` instead, and graphql-ws sends strings only. graphql-ws's own messages
 * (`complete` after the last event) follow a subscription's events, since a sink's end writes what is gathered first.
 *
 * Writes never wait: a connection whose unsent bytes grow past `maxBufferedBytes` is dropped at once (a close frame
 * would only queue behind what it cannot read, keeping it all in memory), and no other connection waits for it.
 */
class BatchedWrites {
  private pending: PendingFrames | undefined;
  private flushScheduled = false;

  constructor(private readonly maxBufferedBytes: number) {}

  /** Sends `prefix` + `tail` as one text message. */
  send(socket: WebSocket, prefix: Buffer, tail: Buffer): void {
    let pending = this.pending;
    if (pending?.socket !== socket) {
      if (socket.readyState !== WebSocket.OPEN) return;
      const tcp = tcpSocketOf(socket);
      if (!tcp || socket.extensions !== '') {
        socket.send(Buffer.concat([prefix, tail], prefix.length + tail.length), { binary: false });
        this.dropIfBacklogged(socket);
        return;
      }
      this.flush();
      pending = this.pending = { socket, tcp, prefixes: [], tails: [], bytes: 0 };
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(this.flushAtTurnEnd);
      }
    }
    const length = prefix.length + tail.length;
    pending.prefixes.push(prefix);
    pending.tails.push(tail);
    pending.bytes += frameHeaderLength(length) + length;
  }

  /** Writes the messages gathered for the current connection, if any. */
  flush(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    if (pending.socket.readyState !== WebSocket.OPEN) return;
    const frames = Buffer.allocUnsafe(pending.bytes);
    const { prefixes, tails } = pending;
    let offset = 0;
    for (let index = 0; index < prefixes.length; index++) {
      const prefix = prefixes[index]!;
      const tail = tails[index]!;
      offset = writeFrameHeader(frames, offset, prefix.length + tail.length);
      // TypedArray#set rather than Buffer#copy: the same copy, without Buffer#copy's argument handling per call.
      frames.set(prefix, offset);
      frames.set(tail, offset + prefix.length);
      offset += prefix.length + tail.length;
    }
    pending.tcp.write(frames);
    this.dropIfBacklogged(pending.socket);
  }

  private dropIfBacklogged(socket: WebSocket): void {
    if (socket.bufferedAmount > this.maxBufferedBytes) socket.terminate();
  }

  private readonly flushAtTurnEnd = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
}

/**
 * Drops a connection whose unsent bytes have grown past `maxBufferedBytes` when graphql-ws sends it another message (a
 * query's result, an error, `complete`), as {@link BatchedWrites} does after subscription events: a client that stops reading
 * would otherwise have every result it asks for held in the gateway's memory. What was waiting to be sent is then
 * reported sent, so that graphql-ws does not take the drop for an internal error.
 */
function dropWhenBacklogged(socket: WebSocket, maxBufferedBytes: number): void {
  type SendCallback = (error?: Error) => void;
  const send = socket.send.bind(socket) as (data: unknown, options: object, callback?: SendCallback) => void;
  let dropped = false;
  const guarded = (data: unknown, optionsOrCallback?: object | SendCallback, callback?: SendCallback): void => {
    const options = typeof optionsOrCallback === 'function' || optionsOrCallback === undefined ? {} : optionsOrCallback;
    const done = (typeof optionsOrCallback === 'function' ? optionsOrCallback : callback) as SendCallback | undefined;
    // Judged before a message, so that one large answer to a client that reads still goes out.
    if (!dropped && socket.bufferedAmount > maxBufferedBytes) {
      dropped = true;
      socket.terminate();
    }
    if (dropped) {
      done?.();
      return;
    }
    send(data, options, (error) => done?.(dropped ? undefined : error));
  };
  socket.send = guarded as typeof socket.send;
}

interface Connection extends StreamingCaller {
  operations: Set<string>;
  release: () => void;
  cancelExpiry?: () => void;
  stopRevocationWatch?: () => void;
}

/**
 * GraphQL over WebSocket on the gateway's own port and path: subscriptions, planned and executed across subgraphs,
 * and queries and mutations, executed as HTTP ones are. Every operation passes the same edge as HTTP (see
 * {@link StreamingOperations}); a refusal or an error is GraphQL errors on that one operation, never a closed
 * connection. Protocol violations get graphql-ws's close codes (4400, 4401, 4408, 4409, 4429); a refused token, or a
 * connection over a limit, closes with 4403; a connection whose access token expires, or whose session is revoked,
 * closes with 4401, and the client reconnects with a fresh token (graphql-ws has no re-authentication on an open
 * connection).
 */
export function serveGatewaySubscriptions(options: GatewaySubscriptionOptions) {
  const now = options.now ?? Date.now;
  const connections = new WeakMap<object, Connection>();
  /** What each operation runs, by its execution context. */
  const prepared = new WeakMap<object, SocketOperation>();
  const maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const writes = new BatchedWrites(maxBufferedBytes);

  function endConnection(connection: Connection): void {
    connection.cancelExpiry?.();
    connection.stopRevocationWatch?.();
    connection.release();
  }

  /**
   * A subscription whose events are written straight to its socket as its group resolves them, rather than pulled
   * through graphql-ws one subscriber at a time: the message is the group's serialised payload behind this
   * subscription's own `{"id":…,"type":"next","payload":` (exactly what graphql-ws would have sent), and each socket's
   * messages of one event leave together. What graphql-ws iterates yields nothing and ends when the group ends, so it
   * still sends `complete` after the last event, and its `return()` (a client's `complete`, a closed connection)
   * detaches the subscription.
   */
  async function writeThrough({ operation, socket, id }: SocketOperation): Promise<AsyncIterableIterator<never> | ExecutionResult> {
    const prefix = Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
    const done: IteratorResult<never> = { done: true, value: undefined };
    let finish!: () => void;
    const finished = new Promise<IteratorResult<never>>((resolve) => (finish = () => resolve(done)));
    const sink: SubscriptionSink = {
      next: (event) => writes.send(socket, prefix, event.frameTail),
      end: () => {
        writes.flush();
        finish();
      },
      channel: socket,
    };
    const detach = await options.operations.attach(operation, sink);
    if (typeof detach !== 'function') return detach;
    const stop = (): Promise<IteratorResult<never>> => {
      detach();
      finish();
      return finished;
    };
    const iterator: AsyncIterableIterator<never> = {
      next: () => finished,
      return: stop,
      throw: stop,
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
  const revocationWatch: RevocationWatch = {
    isRevoked: options.revokedSessions,
    logger: options.logger,
    ...(options.revocationCheckIntervalMs === undefined ? {} : { intervalMs: options.revocationCheckIntervalMs }),
  };
  const wss = new WebSocketServer({ server: options.server, path: options.path, maxPayload: options.maxPayloadBytes ?? 1024 * 1024 });

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
        const authenticated = await authenticateCredentials(
          { connectionParams: ctx.connectionParams },
          options.jwtSecret,
          now,
          options.apiKeys,
          options.revokedSessions,
        );
        if (isRefusal(authenticated)) {
          // Said as over HTTP (`Access token is invalid`, `… has expired`), where graphql-ws alone would say `Forbidden`.
          socket.close(CloseCode.Forbidden, authenticated.message.slice(0, 120));
          return false;
        }
        const { identity, expiresAt } = authenticated;
        // A connection is a request too: opening connections in a loop draws from the same budgets.
        const limited = await options.rateLimit?.({ identity, clientAddress });
        if (limited) {
          socket.close(CloseCode.Forbidden, String(limited.message).slice(0, 120));
          return false;
        }
        const slot = options.connections.acquire({ identity, clientAddress });
        if ('refused' in slot) {
          socket.close(CloseCode.Forbidden, slot.refused);
          return false;
        }
        const userAgent = request.headers['user-agent'];
        const named = clientIdentityOf((name) => ctx.connectionParams?.[name] ?? request.headers[name]);
        const connection: Connection = {
          identity,
          clientAddress,
          ...(userAgent ? { userAgent } : {}),
          ...(named.name ? { client: named } : {}),
          operations: new Set(),
          release: slot.release,
        };
        if (expiresAt !== undefined)
          connection.cancelExpiry = onExpiry(expiresAt, now, () => socket.close(CloseCode.Unauthorized, StreamRefusal.TokenExpired));
        connection.stopRevocationWatch = watchRevocation(identity, revocationWatch, () =>
          socket.close(CloseCode.Unauthorized, SESSION_REVOKED_MESSAGE),
        );
        connections.set(socket, connection);
        // Released when the socket closes, not in graphql-ws's onDisconnect: that runs only for a connection it had
        // acknowledged, and one closed while this was awaiting never was, which held its slot and watches for good.
        if (socket.readyState === WebSocket.OPEN) socket.once('close', () => endConnection(connection));
        else {
          endConnection(connection);
          return false;
        }
        return true;
      },
      onSubscribe: async (ctx: Context<Params, Extra>, id: string, payload: SubscribePayload): Promise<ExecutionArgs | GraphQLError[]> => {
        const connection = connections.get(ctx.extra.socket)!;
        if (connection.operations.size >= options.maxSubscriptionsPerConnection) {
          options.onRefused?.(ErrorCode.RateLimited);
          return [
            clientError(ErrorCode.RateLimited, `At most ${options.maxSubscriptionsPerConnection} operations at once on one connection`),
          ];
        }
        // An id still being prepared or running: graphql-ws forgets an id on `complete` before its operation is ready, and
        // would run both, the first beyond the cap and past the connection's end.
        if (connection.operations.has(id)) {
          options.onRefused?.(ErrorCode.BadRequest);
          return [clientError(ErrorCode.BadRequest, `Operation id ${JSON.stringify(id)} is still in use on this connection`)];
        }
        // Counted before the wait for its preparation, so that a burst of subscribes cannot all pass the check at once.
        connection.operations.add(id);
        const operation = await options.operations.prepare(connection, payload);
        if (Array.isArray(operation)) {
          connection.operations.delete(id);
          return operation;
        }
        prepared.set(operation.context, { operation, socket: ctx.extra.socket, id });
        return {
          schema: operation.schema,
          document: operation.document,
          operationName: operation.operationName,
          variableValues: operation.variables,
          contextValue: operation.context,
        };
      },
      onComplete: (ctx: Context<Params, Extra>, id) => {
        connections.get(ctx.extra.socket)?.operations.delete(id);
      },
      subscribe: (args) => writeThrough(prepared.get(args.contextValue as GatewayContext)!),
      execute: (args) =>
        runDeferring(options.operations, prepared.get(args.contextValue as GatewayContext)!.operation) as Promise<ExecutionResult>,
      onNext: (_ctx, _id, _payload, _args, result) => formattedResult(result),
      onError: (_ctx, _id, _payload, errors) => errors.map(formatted),
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );

  // Registered after graphql-ws's own listener, which logs every socket error as an internal error and closes with
  // 4500: a message over the size limit is the client's doing, and ws has already closed that socket with 1009.
  wss.on('connection', (socket) => {
    dropWhenBacklogged(socket, maxBufferedBytes);
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
