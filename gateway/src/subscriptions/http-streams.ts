import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHandler, type Request as SseRequest } from 'graphql-sse';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import { ErrorCode, HttpError, readBody, sendJson, type Logger, type RouteHandler } from '@nexusflow/kit/core';
import type { GraphQLRequestParams } from '../admission/admission.ts';
import type { Authenticated } from '../authenticate.ts';
import type { GatewayContext } from '../context.ts';
import { runDeferring } from '../features/incremental-delivery.ts';
import { onExpiry, StreamRefusal, type ConnectionLimits } from './connection-limits.ts';
import {
  formatted,
  formattedResult,
  type PreparedStreamingOperation,
  type StreamingCaller,
  type StreamingOperations,
} from './operations.ts';

export interface HttpStreamsOptions {
  path: string;
  operations: StreamingOperations;
  connections: ConnectionLimits;
  /** Who calls, from the request's Authorization header; throws an HttpError to refuse. */
  authenticate: (req: IncomingMessage) => Promise<Authenticated>;
  clientAddressOf: (req: IncomingMessage) => string;
  maxBodyBytes: number;
  logger: Logger;
  /** How often an open multipart stream sends `{}` so that proxies keep it open, as Apollo's protocol asks. @default 5000 */
  multipartHeartbeatMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Apollo's multipart HTTP protocol for subscriptions: the boundary and the parts. */
enum Multipart {
  Boundary = 'graphql',
  ContentType = 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"',
  PartHeader = '\r\n--graphql\r\ncontent-type: application/json; charset=utf-8\r\n\r\n',
  End = '\r\n--graphql--\r\n',
}

const EVENT_STREAM = 'text/event-stream';

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A graphql-sse request: an event stream, or a reservation or operation of its single-connection mode. */
function isServerSentEvents(req: IncomingMessage, url: URL): boolean {
  return (
    (header(req, 'accept') ?? '').includes(EVENT_STREAM) ||
    req.method === 'PUT' ||
    req.method === 'DELETE' ||
    header(req, 'x-graphql-event-stream-token') !== undefined ||
    url.searchParams.has('token')
  );
}

/** A subscription asked for with Apollo's multipart protocol (Apollo Client's HttpLink, Apollo Kotlin and iOS). */
function isMultipartSubscription(req: IncomingMessage): boolean {
  const accept = header(req, 'accept') ?? '';
  return req.method === 'POST' && accept.includes('multipart/mixed') && accept.includes('subscriptionSpec');
}

const statusOf = (code: unknown): number => (code === ErrorCode.RateLimited ? 429 : code === ErrorCode.ServiceUnavailable ? 503 : 400);

/** A refused operation before its stream starts: the status its code calls for, and the errors as over HTTP. */
function sendRefusal(res: ServerResponse, errors: GraphQLError[]): void {
  const code = errors[0]?.extensions.code;
  sendJson(res, statusOf(code), { errors: errors.map(formatted) });
}

/**
 * Subscriptions over plain HTTP, for clients without WebSocket (curl, Apollo clients, serverless front ends), on the
 * gateway's own path: GraphQL over Server-Sent Events (the graphql-sse protocol, both its modes) and Apollo's
 * multipart subscriptions. Each operation passes the same edge as over WebSocket ({@link StreamingOperations}), each
 * open stream counts toward the same connection caps, and a stream ends when its access token expires.
 */
export function httpStreamRoutes(options: HttpStreamsOptions): RouteHandler {
  const now = options.now ?? Date.now;
  const prepared = new WeakMap<object, PreparedStreamingOperation>();
  const callers = new WeakMap<IncomingMessage, StreamingCaller>();

  // graphql-sse types its context as a plain record; the gateway's context is one.
  type SseContext = GatewayContext & Record<PropertyKey, unknown>;
  const sse = createHandler<IncomingMessage, undefined, SseContext>({
    // Validated where HTTP requests are: subscriptions by StreamingOperations, the rest by Apollo Server.
    validate: () => [],
    onSubscribe: async (req: SseRequest<IncomingMessage, undefined>, params) => {
      const caller = callers.get(req.raw)!;
      const operation = await options.operations.prepare(caller, params);
      // graphql-sse takes a result (sent as the stream's one event) only if it has `data`.
      if (Array.isArray(operation)) return { data: null, errors: operation.map(formatted) } as unknown as ExecutionResult;
      prepared.set(operation.context, operation);
      return {
        schema: operation.schema,
        document: operation.document,
        operationName: operation.operationName,
        variableValues: operation.variables,
        contextValue: operation.context as SseContext,
      };
    },
    execute: (args) => runDeferring(options.operations, prepared.get(args.contextValue)!),
    subscribe: (args) => options.operations.run(prepared.get(args.contextValue)!),
    onNext: (_ctx, _req, result) => formattedResult(result as ExecutionResult) as ExecutionResult,
  });

  async function identify(req: IncomingMessage): Promise<StreamingCaller & { expiresAt?: number }> {
    const { identity, expiresAt } = await options.authenticate(req);
    return { identity, clientAddress: options.clientAddressOf(req), ...(expiresAt === undefined ? {} : { expiresAt }) };
  }

  async function serveEvents(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const caller = await identify(req);
    callers.set(req, caller);
    const body = req.method === 'POST' ? (await readBody(req, options.maxBodyBytes)).toString('utf8') : null;
    const accept = header(req, 'accept') ?? '';
    const streaming = accept.includes(EVENT_STREAM) && req.method !== 'PUT';
    const slot = streaming ? options.connections.acquire(caller) : undefined;
    if (slot && 'refused' in slot) throw new HttpError(429, ErrorCode.RateLimited, slot.refused);
    const [responseBody, init] = await sse({
      method: req.method ?? 'GET',
      url: url.toString(),
      // graphql-sse recognises the event stream by this exact value.
      headers: { get: (name) => (name.toLowerCase() === 'accept' && streaming ? EVENT_STREAM : (header(req, name.toLowerCase()) ?? null)) },
      body,
      raw: req,
      context: undefined,
    });
    res.writeHead(init.status, init.statusText, init.headers as Record<string, string>);
    if (typeof responseBody === 'string' || responseBody === null) {
      slot?.release();
      res.end(responseBody ?? undefined);
      return;
    }
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      cancelExpiry?.();
      slot?.release();
      void responseBody.return(undefined);
      res.end();
    };
    const distinct = header(req, 'x-graphql-event-stream-token') === undefined && !url.searchParams.has('token');
    const cancelExpiry =
      caller.expiresAt === undefined
        ? undefined
        : onExpiry(caller.expiresAt, now, () => {
            // In distinct-connections mode the stream is the operation: it ends with the reason, as a GraphQL error.
            if (distinct) {
              const expired = { errors: [{ message: StreamRefusal.TokenExpired, extensions: { code: ErrorCode.Unauthenticated } }] };
              res.write(`event: next\ndata: ${JSON.stringify(expired)}\n\nevent: complete\ndata:\n\n`);
            }
            end();
          });
    res.once('close', end);
    try {
      for await (const chunk of responseBody) {
        if (ended) break;
        res.write(chunk);
      }
    } finally {
      end();
    }
  }

  async function serveMultipart(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const caller = await identify(req);
    let params: GraphQLRequestParams;
    try {
      params = JSON.parse((await readBody(req, options.maxBodyBytes)).toString('utf8')) as GraphQLRequestParams;
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, ErrorCode.BadRequest, 'Request body is not valid JSON');
    }
    if (typeof params !== 'object' || params === null) throw new HttpError(400, ErrorCode.BadRequest, 'Request body must be a JSON object');
    const operation = await options.operations.prepare(caller, params);
    if (Array.isArray(operation)) return sendRefusal(res, operation);
    const slot = options.connections.acquire(caller);
    if ('refused' in slot) throw new HttpError(429, ErrorCode.RateLimited, slot.refused);
    res.writeHead(200, { 'content-type': Multipart.ContentType, 'cache-control': 'no-cache', connection: 'keep-alive' });
    const part = (payload: FormattedExecutionResult | null, errors?: unknown[]) =>
      res.write(`${Multipart.PartHeader}${JSON.stringify(errors ? { payload, errors } : { payload })}`);
    const result = await options.operations.run(operation);
    if (!(Symbol.asyncIterator in result)) {
      part(formattedResult(result));
      res.end(Multipart.End);
      slot.release();
      return;
    }
    let ended = false;
    const heartbeat = setInterval(() => res.write(`${Multipart.PartHeader}{}`), options.multipartHeartbeatMs ?? 5000);
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      cancelExpiry?.();
      slot.release();
      void result.return?.();
      if (!res.writableEnded) res.end(Multipart.End);
    };
    const cancelExpiry =
      caller.expiresAt === undefined
        ? undefined
        : onExpiry(caller.expiresAt, now, () => {
            // A transport-level error in Apollo's protocol: no payload, the reason, and the end of the stream.
            part(null, [{ message: StreamRefusal.TokenExpired, extensions: { code: ErrorCode.Unauthenticated } }]);
            end();
          });
    res.once('close', end);
    try {
      for await (const event of result) {
        if (ended) break;
        part(formattedResult(event));
      }
    } catch (error) {
      options.logger.error({ err: error }, 'multipart subscription failed');
      if (!ended) part(null, [{ message: 'Internal server error', extensions: { code: ErrorCode.InternalServerError } }]);
    } finally {
      end();
    }
  }

  return async (req, res, url) => {
    if (url.pathname !== options.path) return false;
    if (isServerSentEvents(req, url)) await serveEvents(req, res, url);
    else if (isMultipartSubscription(req)) await serveMultipart(req, res);
    else return false;
    return true;
  };
}
