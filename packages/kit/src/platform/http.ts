import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { BREAK, Kind, parse, visit } from 'graphql';
import { ErrorCode, errorResponseBody } from './errors.ts';
import { INSTANCE_HEADER, type Health } from './health.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

/** Returns true when it answered the request. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

export function sendHttpError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, errorResponseBody(error.code, error.message), error.headers);
}

/** @default limit 1 MiB */
export async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, ErrorCode.PayloadTooLarge, `Request body exceeds ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, ErrorCode.PayloadTooLarge, `Request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function toHeaderMap(req: IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

async function parseGraphQLBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (req.method !== 'POST') return undefined;
  const raw = await readBody(req, limit);
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.includes('json')) return raw.toString('utf8');
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, ErrorCode.BadRequest, 'Request body is not valid JSON');
  }
}

export const NUL_REFUSAL = 'Text may not contain the NUL character (U+0000)';
export const LONE_SURROGATE_REFUSAL = 'Text may not contain half of a UTF-16 surrogate pair (U+D800 to U+DFFF alone)';

// eslint-disable-next-line no-control-regex -- NUL is what this finds.
const NUL = /\u0000/;
/** A surrogate without its other half: JSON can carry one (`"\ud800"`), no Unicode text holds one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why text cannot be stored, if it cannot. */
function unstorable(text: string): string | undefined {
  if (NUL.test(text)) return NUL_REFUSAL;
  if (LONE_SURROGATE.test(text)) return LONE_SURROGATE_REFUSAL;
  return undefined;
}

/** Why a JSON value's strings (keys included) cannot be stored, if one cannot; walked without recursion, however deep. */
function unstorableIn(value: unknown): string | undefined {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') {
      const refusal = unstorable(next);
      if (refusal) return refusal;
    } else if (Array.isArray(next)) {
      for (const item of next as unknown[]) pending.push(item);
    } else if (typeof next === 'object' && next !== null)
      for (const [key, element] of Object.entries(next)) {
        const refusal = unstorable(key);
        if (refusal) return refusal;
        pending.push(element);
      }
  }
  return undefined;
}

/**
 * Whether a document's string literals decode to text with the NUL character (`"\u0000"`, `"\u{0}"`). graphql-js
 * refuses an escaped lone surrogate itself, as an invalid escape.
 */
function documentHoldsNul(query: string): boolean {
  // The lexer refuses a raw NUL, so only an escape can make one, and every escape starts with a backslash and a u.
  if (!query.includes('\\u')) return false;
  let found = false;
  try {
    visit(parse(query), {
      [Kind.STRING](node) {
        if (!node.value.includes('\0')) return undefined;
        found = true;
        return BREAK;
      },
    });
  } catch {
    // A document that does not parse is Apollo Server's to refuse, with its own error.
  }
  return found;
}

/**
 * Why an operation cannot run, if its variables or its document's string literals hold text PostgreSQL cannot store
 * (text and jsonb alike): NUL, which it refuses as a protocol error that would read as the database being down, or a
 * lone surrogate, which jsonb refuses. Such an operation is refused whatever field the text is for.
 */
export function unstorableTextRefusal(query: unknown, variables: unknown): string | undefined {
  return unstorableIn(variables) ?? (typeof query === 'string' && documentHoldsNul(query) ? NUL_REFUSAL : undefined);
}

/** Refuses, before any operation runs, a request whose text cannot be stored ({@link unstorableTextRefusal}). */
function refuseUnstorableText({ method, search, body }: GraphQLHttpRequest): void {
  let query: unknown;
  let variables: unknown;
  if (method === 'GET') {
    const params = new URLSearchParams(search);
    query = params.get('query');
    try {
      variables = JSON.parse(params.get('variables') ?? 'null');
    } catch {
      variables = undefined;
    }
  } else if (typeof body === 'object' && body !== null) {
    ({ query, variables } = body as { query?: unknown; variables?: unknown });
  }
  const refusal = unstorableTextRefusal(query, variables);
  if (refusal) throw new HttpError(400, ErrorCode.BadUserInput, refusal);
}

/** A GraphQL request as it arrived over HTTP: the body of a POST, the query string of a GET. */
export interface GraphQLHttpRequest {
  method: string;
  search: string;
  body: unknown;
}

export interface GraphQLHandlerOptions<C extends BaseContext> {
  apollo: ApolloServer<C>;
  /** Resolves who is calling before any GraphQL work; throw an {@link HttpError} to refuse. */
  context: (req: IncomingMessage, requestId: string) => Promise<C>;
  /**
   * Looks at the request before Apollo Server parses and validates it: throw an {@link HttpError} to refuse it, or
   * return the request to run instead (e.g. a persisted document's text in place of its id).
   */
  admit?: (request: GraphQLHttpRequest, context: C) => GraphQLHttpRequest;
  path?: string;
  /** @default 1 MiB */
  maxBodyBytes?: number;
}

/** Apollo Server on plain `node:http`: no framework between the socket and the executor. */
export function graphqlRoute<C extends BaseContext>(options: GraphQLHandlerOptions<C>): RouteHandler {
  const path = options.path ?? '/graphql';
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  return async (req, res, url) => {
    if (url.pathname !== path) return false;
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    const contextValue = await options.context(req, requestId);
    const received: GraphQLHttpRequest = {
      method: req.method ?? 'GET',
      search: url.search,
      body: await parseGraphQLBody(req, maxBodyBytes),
    };
    const admitted = options.admit ? options.admit(received, contextValue) : received;
    refuseUnstorableText(admitted);
    const { method, search, body } = admitted;
    const response = await options.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method, headers: toHeaderMap(req), search, body },
      context: async () => contextValue,
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      // Encoded once: its length is then known, where Buffer.byteLength would read the whole text before end() encodes it.
      const bytes = Buffer.from(response.body.string);
      res.setHeader('content-length', bytes.length);
      res.end(bytes);
      return true;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
    return true;
  };
}

export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w-]{1,128}$/.test(given) ? given : randomUUID();
}

export interface MetricsAccess {
  /** Bearer token that /metrics requires; unset: open to whoever reaches the listener. */
  token?: string;
}

/** Whether the request carries exactly `Bearer <token>`, compared in constant time. */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Health checks, and Prometheus metrics unless `metrics` is undefined (then /metrics is not served here). */
export function healthRoutes(health: Health, metrics: Metrics | undefined, access: MetricsAccess = {}): RouteHandler {
  const instance: Record<string, string> = health.instance === undefined ? {} : { [INSTANCE_HEADER]: health.instance };
  return async (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    switch (url.pathname) {
      case '/health':
        sendJson(res, 200, health.summary(), instance);
        return true;
      case '/health/live':
        sendJson(res, 200, { status: 'live' }, instance);
        return true;
      case '/health/ready': {
        const report = await health.readiness();
        sendJson(res, report.status === 'ready' ? 200 : 503, report, instance);
        return true;
      }
      case '/metrics': {
        if (!metrics) return false;
        if (access.token !== undefined && !bearerMatches(req, access.token)) {
          sendJson(res, 401, errorResponseBody(ErrorCode.Unauthenticated, 'Metrics require the metrics token'), {
            'www-authenticate': 'Bearer',
          });
          return true;
        }
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(body);
        return true;
      }
      default:
        return false;
    }
  };
}

/** Labels requests by known route only, so that probing random paths cannot blow up metric cardinality. */
function routeLabel(pathname: string, knownPaths: Set<string>): string {
  return knownPaths.has(pathname) ? pathname : 'other';
}

export interface HttpServerOptions {
  routes: RouteHandler[];
  logger: Logger;
  metrics: Metrics;
  knownPaths?: string[];
}

export interface RunningHttpServer {
  server: Server;
  url: string;
  port: number;
  /** Stops accepting connections, lets requests in flight finish, then force-closes after the timeout. */
  close(timeoutMs?: number): Promise<void>;
}

export function createHttpServer(options: HttpServerOptions): Server {
  const knownPaths = new Set(['/graphql', '/health', '/health/live', '/health/ready', '/metrics', ...(options.knownPaths ?? [])]);
  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://localhost');
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.metrics.httpRequestDuration.observe(
        { method: req.method ?? 'GET', route: routeLabel(url.pathname, knownPaths), status: String(res.statusCode) },
        seconds,
      );
    });
    try {
      for (const route of options.routes) {
        if (await route(req, res, url)) return;
      }
      sendJson(res, 404, errorResponseBody(ErrorCode.NotFound, `No route for ${req.method} ${url.pathname}`));
    } catch (error) {
      if (res.headersSent) {
        options.logger.error({ err: error }, 'request failed after its response started');
        res.destroy();
        return;
      }
      if (error instanceof HttpError) return sendHttpError(res, error);
      options.logger.error({ err: error, path: url.pathname }, 'unhandled request error');
      sendJson(res, 500, errorResponseBody(ErrorCode.InternalServerError, 'Internal server error'));
    }
  };
  return createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    // Node ignores what a request listener returns: a failure even answering the error is logged and the socket dropped.
    handleRequest(req, res).catch((error: unknown) => {
      options.logger.error({ err: error, path: req.url }, 'request handler failed');
      res.destroy();
    });
  });
}

export async function listen(server: Server, port: number, host: string): Promise<RunningHttpServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const displayHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    port: address.port,
    url: `http://${displayHost}:${address.port}`,
    close: (timeoutMs = 10_000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
