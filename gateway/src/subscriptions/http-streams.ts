import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHandler, TOKEN_HEADER_KEY, TOKEN_QUERY_KEY, type Request as SseRequest, type Response as SseResponse } from 'graphql-sse';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import { ErrorCode, HttpError, readBody, sendJson, type Logger, type RouteHandler } from '@nexusflow/kit/core';
import type { GraphQLRequestParams } from '../admission/admission.ts';
import { SESSION_REVOKED_MESSAGE, type Authenticated } from '../authenticate.ts';
import type { GatewayContext } from '../context.ts';
import { runDeferring } from '../features/incremental-delivery.ts';
import type { SessionRevocationCheck } from '../session-revocation.ts';
import { onExpiry, StreamRefusal, watchRevocation, type ConnectionLimits, type RevocationWatch } from './connection-limits.ts';
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
  /** Draws one request from the caller's rate limits for each stream, reservation and multipart request; the refusal, if any. */
  rateLimit?: (caller: StreamingCaller) => Promise<GraphQLError | undefined>;
  /** Ends open streams of revoked sessions, as WebSocket connections are closed. */
  revokedSessions?: SessionRevocationCheck;
  /** How often an open stream's session is checked against revoked sessions. @default 1000 */
  revocationCheckIntervalMs?: number;
  /**
   * How long a reservation of graphql-sse's single-connection mode (a PUT) waits for its event stream before it is
   * dropped, with what was subscribed on it. @default 30000
   */
  reservationTimeoutMs?: number;
  /**
   * Bytes a stream may have waiting to be sent before it is dropped, as a WebSocket connection is (`WS_MAX_BUFFERED_BYTES`):
   * a client that stops reading would otherwise have everything it asked for held in the gateway's memory.
   */
  maxBufferedBytes: number;
  /** How many operations one reservation runs at once, as one WebSocket connection (`MAX_SUBSCRIPTIONS_PER_CONNECTION`). */
  maxOperationsPerReservation: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Apollo's multipart HTTP protocol for subscriptions: the boundary and the parts. A part ends where the next delimiter
 * starts, so each is written with the delimiter after it, as Apollo Router writes them: a client reads an event the
 * moment it arrives, not when the next part (a heartbeat, seconds later) does.
 */
enum Multipart {
  ContentType = 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"',
  Delimiter = '\r\n--graphql',
  PartHeader = '\r\ncontent-type: application/json; charset=utf-8\r\n\r\n',
  /** After the last part's delimiter: the close delimiter's `--`. */
  End = '--\r\n',
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

/** Content types a browser sends cross-site without asking first (a "simple" request), as Apollo Server lists them. */
const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);
/** Headers whose presence makes a browser ask first, as Apollo Server's CSRF prevention takes them. */
const PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'];
const CSRF_REFUSAL =
  "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). Please either specify a 'content-type' header " +
  `(with a type that is not one of ${[...SIMPLE_CONTENT_TYPES].join(', ')}) or provide a non-empty value for one of the following ` +
  `headers: ${PREFLIGHT_HEADERS.join(', ')}`;

/**
 * Refuses a POST another site's page could have sent without the browser asking first, as Apollo Server refuses one over
 * plain HTTP: a stream's operation may be a mutation, and the page needs none of the answer for it to take effect.
 */
function refuseCrossSiteRequest(req: IncomingMessage): void {
  const contentType = header(req, 'content-type');
  const essence = contentType?.split(';')[0]?.trim().toLowerCase();
  if (essence !== undefined && !SIMPLE_CONTENT_TYPES.has(essence)) return;
  if (PREFLIGHT_HEADERS.some((name) => (header(req, name) ?? '').length > 0)) return;
  throw new HttpError(400, ErrorCode.BadRequest, CSRF_REFUSAL);
}

/** The code of a refusal graphql-sse answers by itself (a mutation over GET, a stream it does not know), by its status. */
function codeOfStatus(status: number): ErrorCode {
  if (status === 404) return ErrorCode.NotFound;
  if (status === 409) return ErrorCode.Conflict;
  return ErrorCode.BadRequest;
}

/** graphql-sse's own refusals, which carry no code (or no body), as every other refusal of the gateway: errors with codes. */
function withCodes(body: string | null, status: number, statusText: string | undefined): string {
  let errors: { message?: unknown; extensions?: Record<string, unknown> }[] | undefined;
  if (body) {
    try {
      errors = (JSON.parse(body) as { errors?: typeof errors }).errors;
    } catch {
      errors = undefined;
    }
  }
  const code = codeOfStatus(status);
  const coded = (errors ?? [{ message: body || statusText || 'Bad Request' }]).map((error) => ({
    message: typeof error.message === 'string' ? error.message : String(statusText ?? 'Bad Request'),
    extensions: { ...error.extensions, code: typeof error.extensions?.code === 'string' ? error.extensions.code : code },
  }));
  return JSON.stringify({ errors: coded });
}

/**
 * graphql-sse ends only what looks like an async generator (`next`, `return` and `throw`) when a stream closes; the
 * gateway's subscriptions are async iterators without `throw`, and would otherwise stay subscribed upstream.
 */
function endable<T>(result: AsyncIterableIterator<T> | ExecutionResult): AsyncGenerator<T> | ExecutionResult {
  if (!(Symbol.asyncIterator in result)) return result;
  const iterator = result as AsyncIterableIterator<T> & { throw?: (error?: unknown) => Promise<IteratorResult<T>> };
  if (!iterator.throw)
    iterator.throw = async () => {
      await iterator.return?.();
      return { done: true, value: undefined };
    };
  return iterator as AsyncGenerator<T>;
}

/**
 * Writes `text` unless what the client has not taken yet (`writableLength`, its socket's bytes included) is past
 * `maxBytes`, when the response is dropped instead: an end would only wait behind what its client does not read. Judged
 * before the write, so that one large answer to a client that reads still goes out. False once dropped.
 */
function writeOrDrop(res: ServerResponse, text: string | Uint8Array, maxBytes: number): boolean {
  if (res.writableLength > maxBytes) {
    res.destroy();
    return false;
  }
  res.write(text);
  return true;
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

  const revocationWatch: RevocationWatch = {
    isRevoked: options.revokedSessions,
    logger: options.logger,
    ...(options.revocationCheckIntervalMs === undefined ? {} : { intervalMs: options.revocationCheckIntervalMs }),
  };
  /**
   * The reservations of graphql-sse's single-connection mode, by token: whose each is (a token is usable by the identity
   * that reserved it only), the connection slot it holds from its PUT until its stream ends, and its expiry while no
   * stream has connected to it.
   */
  const reservations = new Map<
    string,
    {
      owner: string;
      release: () => void;
      /** The operations running on it, by id, against MAX_SUBSCRIPTIONS_PER_CONNECTION. */
      operations: Set<string>;
      /** Bytes of results graphql-sse holds for it until its stream connects. */
      heldBytes: number;
      cancelExpiry?: () => void;
      connected?: boolean;
    }
  >();
  /** The operation id each request sent to a reservation runs under, so that its end frees its place. */
  const operationIdOf = new WeakMap<IncomingMessage, string>();
  /** The reservation each operation was sent to, so that one prepared while its stream ended is ended too. */
  const reservationOf = new WeakMap<object, string>();
  /** The reservation each PUT made, released at once when graphql-sse then refuses the PUT. */
  const reservedBy = new WeakMap<IncomingMessage, string>();
  /** A request the gateway makes of graphql-sse itself, to drop a reservation nobody connected to. */
  const dropping = new WeakSet<object>();
  // An anonymous caller is nobody in particular: its reservation is its address's.
  const ownerOf = (caller: StreamingCaller) =>
    JSON.stringify(caller.identity.kind === 'anonymous' ? [caller.identity, caller.clientAddress] : caller.identity);
  const notFound = (): SseResponse => [
    JSON.stringify({ errors: [{ message: 'Stream not found', extensions: { code: ErrorCode.NotFound } }] }),
    { status: 404, statusText: 'Not Found', headers: { 'content-type': 'application/json; charset=utf-8' } },
  ];

  // graphql-sse types its context as a plain record; the gateway's context is one.
  type SseContext = GatewayContext & Record<PropertyKey, unknown>;
  const sse = createHandler<IncomingMessage, undefined, SseContext>({
    // graphql-sse's own tokens come from Math.random and serve whoever presents them: the gateway's are random UUIDs,
    // bound to the identity that reserved them, and a reservation is a connection under the same caps.
    authenticate: (req) => {
      const given = tokenOf(req.raw);
      if (dropping.has(req.raw)) return given;
      const caller = callers.get(req.raw)!;
      if (req.method === 'PUT') {
        const reserved = reserve(caller);
        if (typeof reserved === 'string') reservedBy.set(req.raw, reserved);
        return reserved;
      }
      if (given === undefined) return undefined;
      return reservations.get(given)?.owner === ownerOf(caller) ? given : notFound();
    },
    // Validated where HTTP requests are: subscriptions by StreamingOperations, the rest by Apollo Server.
    validate: () => [],
    onSubscribe: async (req: SseRequest<IncomingMessage, undefined>, params) => {
      const caller = callers.get(req.raw)!;
      const token = tokenOf(req.raw);
      const operation = await options.operations.prepare(caller, params);
      // graphql-sse takes a result (sent as the stream's one event) only if it has `data`.
      if (Array.isArray(operation)) return { data: null, errors: operation.map(formatted) } as unknown as ExecutionResult;
      prepared.set(operation.context, operation);
      if (token !== undefined) reservationOf.set(operation.context, token);
      return {
        schema: operation.schema,
        document: operation.document,
        operationName: operation.operationName,
        variableValues: operation.variables,
        contextValue: operation.context as SseContext,
      };
    },
    execute: async (args) =>
      stillReserved(args.contextValue, endable(await runDeferring(options.operations, prepared.get(args.contextValue)!))),
    subscribe: async (args) => stillReserved(args.contextValue, endable(await options.operations.run(prepared.get(args.contextValue)!))),
    onNext: (_ctx, req, result) => {
      const formatted = formattedResult(result as ExecutionResult) as ExecutionResult;
      holdWhileUnconnected(tokenOf(req.raw), formatted);
      return formatted;
    },
    onComplete: (_ctx, req) => forgetOperation(tokenOf(req.raw), operationIdOf.get(req.raw)),
  });

  /**
   * graphql-sse holds what a reservation's operations send until its stream connects: counted, so that a client that
   * reserves and never connects cannot have more than a stream may have unsent held for it, past which the reservation is
   * dropped with what was subscribed on it.
   */
  function holdWhileUnconnected(token: string | undefined, result: ExecutionResult): void {
    const reservation = token === undefined ? undefined : reservations.get(token);
    if (!reservation || reservation.connected) return;
    reservation.heldBytes += Buffer.byteLength(JSON.stringify(result));
    if (reservation.heldBytes > options.maxBufferedBytes)
      void drop(token!).catch((error: unknown) => options.logger.warn({ err: error }, 'a reservation could not be dropped'));
  }

  /** The id an operation sent to a reservation runs under (graphql-sse's `extensions.operationId`), from a POST's body or a GET's query. */
  function operationIdIn(method: string, url: URL, body: unknown): string | undefined {
    let extensions: unknown;
    try {
      extensions =
        method === 'POST'
          ? (body as { extensions?: unknown } | null)?.extensions
          : JSON.parse(url.searchParams.get('extensions') ?? 'null');
    } catch {
      // graphql-sse answers what does not parse itself.
      return undefined;
    }
    const given = (extensions as { operationId?: unknown } | null | undefined)?.operationId;
    return typeof given === 'string' || typeof given === 'number' ? String(given) : undefined;
  }

  /** Frees an operation's place in its reservation, when it completes or its client stops it. */
  function forgetOperation(token: string | undefined, operationId: string | null | undefined): void {
    if (token !== undefined && operationId != null) reservations.get(token)?.operations.delete(operationId);
  }

  /**
   * Ends an open stream when its client leaves (or left while it was being prepared), its token expires or its session
   * is revoked, saying why through `endWith`; what stops the watches goes into `stopWatches`, which the stream's end runs.
   */
  function watchStream(
    req: IncomingMessage,
    res: ServerResponse,
    caller: StreamingCaller & { expiresAt?: number },
    stream: { end: () => void; endWith: (message: string) => void; ended: () => boolean },
    stopWatches: (() => void)[],
  ): void {
    res.once('close', stream.end);
    if (req.socket.destroyed) stream.end();
    if (caller.expiresAt !== undefined) stopWatches.push(onExpiry(caller.expiresAt, now, () => stream.endWith(StreamRefusal.TokenExpired)));
    // Ended already (an expired token fires at once): nothing is left to watch.
    if (stream.ended()) return;
    const stopRevocationWatch = watchRevocation(caller.identity, revocationWatch, () => stream.endWith(SESSION_REVOKED_MESSAGE));
    if (stopRevocationWatch) stopWatches.push(stopRevocationWatch);
  }

  /** The token a request names (header or query), if it names one: an empty one names none. */
  function tokenOf(req: IncomingMessage): string | undefined {
    const given = header(req, TOKEN_HEADER_KEY) || new URL(req.url ?? '', 'http://localhost/').searchParams.get(TOKEN_QUERY_KEY);
    return given || undefined;
  }

  /**
   * An operation's result, ended at once when it was sent to a reservation whose stream ended while it was prepared:
   * graphql-sse would otherwise keep it running for a stream nobody reads.
   */
  function stillReserved<T>(context: object, result: AsyncGenerator<T> | ExecutionResult): AsyncGenerator<T> | ExecutionResult {
    const token = reservationOf.get(context);
    if (token === undefined || reservations.has(token) || !(Symbol.asyncIterator in result)) return result;
    void result.return(undefined);
    return { errors: [{ message: 'Stream not found', extensions: { code: ErrorCode.NotFound } }] } as unknown as ExecutionResult;
  }

  /** A reservation's token, holding a connection slot of the caller's until its stream ends or it expires unused. */
  function reserve(caller: StreamingCaller): string | SseResponse {
    const slot = options.connections.acquire(caller);
    if ('refused' in slot)
      return [
        JSON.stringify({ errors: [{ message: slot.refused, extensions: { code: ErrorCode.RateLimited } }] }),
        { status: 429, statusText: 'Too Many Requests', headers: { 'content-type': 'application/json; charset=utf-8' } },
      ];
    const token = randomUUID();
    const timer = setTimeout(
      () => void drop(token).catch((error: unknown) => options.logger.warn({ err: error }, 'an unused reservation could not be dropped')),
      options.reservationTimeoutMs ?? 30_000,
    );
    timer.unref();
    reservations.set(token, {
      owner: ownerOf(caller),
      release: slot.release,
      operations: new Set(),
      heldBytes: 0,
      cancelExpiry: () => clearTimeout(timer),
    });
    return token;
  }

  /** Forgets a reservation, releasing its slot, and has graphql-sse drop its stream with whatever was subscribed on it. */
  async function drop(token: string): Promise<void> {
    const reservation = reservations.get(token);
    if (!reservation) return;
    reservations.delete(token);
    reservation.cancelExpiry?.();
    reservation.release();
    // graphql-sse keeps a reservation until its stream ends: connecting to it and leaving at once ends it.
    const raw = {};
    dropping.add(raw);
    const [stream] = await sse({
      method: 'GET',
      url: `http://localhost/?${TOKEN_QUERY_KEY}=${token}`,
      headers: { get: (name) => (name.toLowerCase() === 'accept' ? EVENT_STREAM : null) },
      body: null,
      raw: raw as IncomingMessage,
      context: undefined,
    });
    if (stream && typeof stream !== 'string') await stream.return?.(undefined);
  }

  /**
   * Who calls. Each stream, reservation and multipart request is a request too, drawn from the rate limits as a
   * WebSocket connection is (`charged`); an operation sent to a reservation is charged when it is prepared, as over
   * WebSocket, and stopping one (DELETE) is never refused.
   */
  async function identify(req: IncomingMessage, charged: boolean): Promise<StreamingCaller & { expiresAt?: number }> {
    const { identity, expiresAt } = await options.authenticate(req);
    const caller = { identity, clientAddress: options.clientAddressOf(req), ...(expiresAt === undefined ? {} : { expiresAt }) };
    const limited = charged ? await options.rateLimit?.(caller) : undefined;
    if (limited) throw new HttpError(429, ErrorCode.RateLimited, limited.message);
    return caller;
  }

  async function serveEvents(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method === 'POST') refuseCrossSiteRequest(req);
    const accept = header(req, 'accept') ?? '';
    const streaming = accept.includes(EVENT_STREAM) && req.method !== 'PUT';
    const token = tokenOf(req);
    const caller = await identify(req, streaming || req.method === 'PUT' || token === undefined);
    callers.set(req, caller);
    const body = req.method === 'POST' ? (await readBody(req, options.maxBodyBytes)).toString('utf8') : null;
    // Said as over plain HTTP and multipart, where graphql-sse would answer with the parser's own words.
    let parsedBody: unknown = null;
    if (body) {
      try {
        parsedBody = JSON.parse(body);
      } catch {
        throw new HttpError(400, ErrorCode.BadRequest, 'Request body is not valid JSON');
      }
    }
    const reserved = token === undefined ? undefined : reservations.get(token);
    const ownReservation = reserved?.owner === ownerOf(caller) ? reserved : undefined;
    // A reservation has one stream: another connection to it would share its slot (graphql-sse would answer 409).
    if (streaming && ownReservation?.connected)
      throw new HttpError(409, ErrorCode.Conflict, 'The stream of this reservation is already open');
    if (streaming && ownReservation) ownReservation.connected = true;
    // A stream of a reservation holds the reservation's slot; a stream of its own takes one.
    const slot = streaming && token === undefined ? options.connections.acquire(caller) : undefined;
    if (slot && 'refused' in slot) throw new HttpError(429, ErrorCode.RateLimited, slot.refused);
    // An operation sent to a reservation takes its place here, before graphql-sse reserves its id: one refused after
    // that would keep its id taken for good.
    const operationId =
      ownReservation && !streaming && (req.method === 'POST' || req.method === 'GET')
        ? operationIdIn(req.method, url, parsedBody)
        : undefined;
    if (operationId !== undefined && ownReservation) {
      if (ownReservation.operations.size >= options.maxOperationsPerReservation) {
        // Charged as the operation would have been, so that refusals are not free requests.
        await options.rateLimit?.(caller);
        throw new HttpError(
          429,
          ErrorCode.RateLimited,
          `At most ${options.maxOperationsPerReservation} operations at once on one connection`,
        );
      }
      ownReservation.operations.add(operationId);
      operationIdOf.set(req, operationId);
    }
    let answer: Awaited<ReturnType<typeof sse>>;
    try {
      answer = await sse({
        method: req.method ?? 'GET',
        url: url.toString(),
        // graphql-sse recognises the event stream by this exact value.
        headers: {
          get: (name) => (name.toLowerCase() === 'accept' && streaming ? EVENT_STREAM : (header(req, name.toLowerCase()) ?? null)),
        },
        body,
        raw: req,
        context: undefined,
      });
    } catch (error) {
      slot?.release();
      forgetOperation(token, operationId);
      throw error;
    }
    const [responseBody, init] = answer;
    if (typeof responseBody === 'string' || responseBody === null) {
      slot?.release();
      if (req.method === 'DELETE' && ownReservation) forgetOperation(token, url.searchParams.get('operationId'));
      // Only an accepted operation runs (and is forgotten when it completes): refused, or completed while it was being
      // prepared, it holds no place.
      if (init.status !== 202) forgetOperation(token, operationId);
      // A reservation graphql-sse then refused (406 for its Accept header) was never handed to the client.
      const refusedReservation = req.method === 'PUT' && init.status !== 201 ? reservedBy.get(req) : undefined;
      if (refusedReservation) void drop(refusedReservation).catch(() => undefined);
      if (init.status >= 400) {
        const coded = withCodes(responseBody, init.status, init.statusText);
        res.writeHead(init.status, init.statusText, {
          ...(init.headers as Record<string, string>),
          'content-type': 'application/json; charset=utf-8',
        });
        res.end(coded);
        return;
      }
      res.writeHead(init.status, init.statusText, init.headers as Record<string, string>);
      res.end(responseBody ?? undefined);
      return;
    }
    res.writeHead(init.status, init.statusText, init.headers as Record<string, string>);
    const reservation = token === undefined ? undefined : reservations.get(token);
    reservation?.cancelExpiry?.();
    let ended = false;
    /** What stops the watches on the stream's token and session, once they are set (the first may end it at once). */
    const stopWatches: (() => void)[] = [];
    const end = () => {
      if (ended) return;
      ended = true;
      for (const stop of stopWatches) stop();
      slot?.release();
      if (token !== undefined && reservations.get(token) === reservation) {
        reservations.delete(token);
        reservation?.release();
      }
      void responseBody.return(undefined);
      if (!res.destroyed) res.end();
    };
    /** In distinct-connections mode the stream is the operation: it ends with the reason, as a GraphQL error. */
    const endWith = (message: string) => {
      if (token === undefined && !ended) {
        const refused = { errors: [{ message, extensions: { code: ErrorCode.Unauthenticated } }] };
        res.write(`event: next\ndata: ${JSON.stringify(refused)}\n\nevent: complete\ndata:\n\n`);
      }
      end();
    };
    watchStream(req, res, caller, { end, endWith, ended: () => ended }, stopWatches);
    try {
      for await (const chunk of responseBody) {
        if (ended || !writeOrDrop(res, chunk, options.maxBufferedBytes)) break;
      }
    } finally {
      end();
    }
  }

  async function serveMultipart(req: IncomingMessage, res: ServerResponse): Promise<void> {
    refuseCrossSiteRequest(req);
    const caller = await identify(req, true);
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
    // Sent now with the first delimiter rather than with the first part, which may be a heartbeat's wait away: the
    // client knows it is subscribed.
    res.write(Multipart.Delimiter);
    const write = (text: string) => writeOrDrop(res, text, options.maxBufferedBytes);
    const part = (payload: FormattedExecutionResult | null, errors?: unknown[]) =>
      write(`${Multipart.PartHeader}${JSON.stringify(errors ? { payload, errors } : { payload })}${Multipart.Delimiter}`);
    const result = await options.operations.run(operation);
    if (!(Symbol.asyncIterator in result)) {
      part(formattedResult(result));
      res.end(Multipart.End);
      slot.release();
      return;
    }
    let ended = false;
    /** What stops the watches on the stream's token and session, once they are set (the first may end it at once). */
    const stopWatches: (() => void)[] = [];
    const heartbeat = setInterval(() => write(`${Multipart.PartHeader}{}${Multipart.Delimiter}`), options.multipartHeartbeatMs ?? 5000);
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      for (const stop of stopWatches) stop();
      slot.release();
      void result.return?.();
      if (!res.writableEnded && !res.destroyed) res.end(Multipart.End);
    };
    /** A transport-level error in Apollo's protocol: no payload, the reason, and the end of the stream. */
    const endWith = (message: string) => {
      if (ended) return;
      part(null, [{ message, extensions: { code: ErrorCode.Unauthenticated } }]);
      end();
    };
    watchStream(req, res, caller, { end, endWith, ended: () => ended }, stopWatches);
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
