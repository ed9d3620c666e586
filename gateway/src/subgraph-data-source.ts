import { STATUS_CODES } from 'node:http';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError } from 'graphql';
import { Pool } from 'undici';
import {
  ANONYMOUS,
  clientError,
  ErrorCode,
  IDENTITY_MAX_AGE_MS,
  isTracing,
  recordFailure,
  signIdentity,
  SpanKind,
  startSpan,
  traceHeaders,
  withSpan,
  type Identity,
  type Span,
} from '@nexusflow/kit/core';
import type { GatewayContext } from './context.ts';
import type { BatchingDataSource } from './execution/fetch-batching.ts';

export interface SubgraphClientOptions {
  /** Keep-alive connections held open to one subgraph. @default 128 */
  connections?: number;
  /** A subgraph that has not answered (headers, then each part of the body) within this is unavailable. @default 30000 */
  timeoutMs?: number;
  /**
   * Identical queries in flight to the subgraph at the same moment (same body, same identity) share one HTTP
   * request, as Apollo Router's `deduplicate_query`. Mutations never do. @default false
   */
  deduplicate?: boolean;
  /**
   * Entity fetches of one operation that start together take one request, merged into one operation (see
   * execution/fetch-batching.ts); off, each fetch is a request of its own, as stock sends them. @default true
   */
  batchEntityFetches?: boolean;
  /** The clock identity signatures are dated by. @default Date.now */
  now?: () => number;
}

interface RawResponse {
  status: number;
  text: string;
}

/**
 * Signed identity headers, computed once per client request however many subgraph fetches it makes. A subscription
 * keeps its context for as long as its client stays, so headers are signed afresh once they are this old: well
 * inside the age at which subgraphs refuse a signature.
 */
const signedHeaders = new WeakMap<object, { headers: Record<string, string>; signedAt: number }>();
export const IDENTITY_RESIGN_AFTER_MS = IDENTITY_MAX_AGE_MS / 5;

/**
 * Collects a response's status and body text, for `Pool.dispatch`: `Pool.request` wraps every response in a
 * Readable stream and an async resource, which cost a subgraph fetch more than reading its few kilobytes does.
 */
class TextResponseHandler {
  private readonly chunks: Buffer[] = [];
  private status = 0;
  private abort: ((reason: Error) => void) | undefined;
  private readonly stopListening: (() => void) | undefined;
  private aborted: Error | undefined;

  constructor(
    private readonly resolve: (response: RawResponse) => void,
    private readonly reject: (error: Error) => void,
    signal: AbortSignal | undefined,
  ) {
    if (!signal) return;
    const onAbort = () => {
      this.aborted = new Error('The subgraph fetch was aborted');
      this.abort?.(this.aborted);
    };
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      this.stopListening = () => signal.removeEventListener('abort', onAbort);
    }
  }

  onConnect(abort: (reason: Error) => void): void {
    if (this.aborted) abort(this.aborted);
    else this.abort = abort;
  }

  onHeaders(statusCode: number): boolean {
    // Informational responses (1xx) come before the final one.
    if (statusCode >= 200) this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    this.stopListening?.();
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const text = bytes.toString('utf8');
    // As a WHATWG TextDecoder (what `Body.text()` uses) reads it: without a byte order mark.
    this.resolve({ status: this.status, text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text });
  }

  onError(error: Error): void {
    this.stopListening?.();
    this.reject(error);
  }
}

/** Bad gateway, service unavailable, gateway timeout. */
const UNAVAILABLE_STATUSES = new Set([502, 503, 504]);

/**
 * A value the subgraph refused (its scalars, in a variable or a literal; text it cannot store). Any other validation or
 * parse failure means the gateway's plan and the subgraph disagree (a deploy under way): the gateway's to report as
 * stock does, not the client's to correct.
 */
function isCallersMistake(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { message, extensions } = error as { message?: unknown; extensions?: { code?: unknown } };
  return typeof message === 'string' && extensions?.code === ErrorCode.BadUserInput;
}

/**
 * The errors of a GraphQL request a subgraph refused with 400 as the caller's mistake (GraphQL over HTTP: a variable or
 * an argument its own scalars reject, which the gateway cannot judge; text it cannot store), when the body is a GraphQL
 * response whose every error is `BAD_USER_INPUT` and no data: they reach the client as they are, as Apollo Router
 * passes them on, where stock's "400: Bad Request" would become an internal error.
 */
function requestErrorsIn(text: string): GatewayGraphQLResponse | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { errors, data } = body as { errors?: unknown; data?: unknown };
  if (data !== undefined && data !== null) return undefined;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  return errors.every(isCallersMistake) ? { errors: errors as GatewayGraphQLResponse['errors'] } : undefined;
}

/**
 * Subgraph fetches for the gateway: a keep-alive connection pool per subgraph (undici), the caller's
 * verified identity signed with the internal secret so that a subgraph can trust who is calling without
 * re-validating tokens, and nothing else per request. @apollo/gateway's own data source sends through
 * make-fetch-happen and builds a node-fetch Request per fetch, which is most of its cost per fetch.
 */
export class SubgraphDataSource implements BatchingDataSource, GraphQLDataSource<GatewayContext> {
  readonly batchesEntityFetches: boolean;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly timeoutMs: number;
  private readonly deduplicate: boolean;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, Promise<RawResponse>>();

  constructor(
    readonly url: string,
    private readonly subgraphName: string,
    private readonly internalSecret: string,
    options: SubgraphClientOptions = {},
  ) {
    const parsed = new URL(url);
    this.path = `${parsed.pathname}${parsed.search}`;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.deduplicate = options.deduplicate ?? false;
    this.batchesEntityFetches = options.batchEntityFetches ?? true;
    this.now = options.now ?? Date.now;
    this.pool = new Pool(parsed.origin, { connections: options.connections ?? 128, keepAliveTimeout: 30_000 });
  }

  process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    if (!isTracing()) return this.fetch(options, undefined);
    return this.tracedFetch(options);
  }

  /** The fetch in a client span, whose W3C trace context the subgraph continues. */
  private async tracedFetch(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const span = startSpan(`subgraph ${this.subgraphName}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'subgraph.name': this.subgraphName, 'http.request.method': 'POST', 'url.full': this.url },
    })!;
    try {
      return await withSpan(span, () => this.fetch(options, span));
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  private async fetch(
    { request, context }: GraphQLDataSourceProcessOptions<GatewayContext>,
    span: Span | undefined,
  ): Promise<GatewayGraphQLResponse> {
    // Health checks and schema loading run without a request context; they act as anonymous.
    const gatewayContext: Partial<GatewayContext> = context;
    const identity: Identity = gatewayContext.identity ?? ANONYMOUS;
    const signed = this.headersFor(context, identity);
    const headers = span ? { ...signed, ...traceHeaders() } : signed;
    const body = JSON.stringify({ query: request.query, variables: request.variables, operationName: request.operationName });
    const deadline = gatewayContext.deadline;
    const response = await this.send(body, headers, identity, request.query ?? '', deadline);
    span?.setAttribute('http.response.status_code', response.status);
    // What a proxy or load balancer in front of a subgraph answers when no instance of it is up.
    if (UNAVAILABLE_STATUSES.has(response.status)) throw this.unavailable();
    if (response.status === 400) {
      const refusal = requestErrorsIn(response.text);
      if (refusal) return refusal;
    }
    if (response.status < 200 || response.status > 299) throw this.errorFromResponse(response);
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null) throw this.unavailable();
    return parsed;
  }

  private headersFor(context: object, identity: Identity): Record<string, string> {
    const now = this.now();
    const signed = signedHeaders.get(context);
    if (signed && now - signed.signedAt < IDENTITY_RESIGN_AFTER_MS) return signed.headers;
    const clientAddress = 'clientAddress' in context && typeof context.clientAddress === 'string' ? context.clientAddress : undefined;
    const userAgent = 'userAgent' in context && typeof context.userAgent === 'string' ? context.userAgent : undefined;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...signIdentity(identity, this.internalSecret, now, clientAddress, userAgent),
    };
    if ('requestId' in context && typeof context.requestId === 'string') headers['x-request-id'] = context.requestId;
    signedHeaders.set(context, { headers, signedAt: now });
    return headers;
  }

  private send(
    body: string,
    headers: Record<string, string>,
    identity: Identity,
    query: string,
    deadline: AbortSignal | undefined,
  ): Promise<RawResponse> {
    if (!this.deduplicate || /^\s*mutation\b/.test(query)) return this.post(body, headers, deadline);
    const key = `${JSON.stringify(identity)}\n${body}`;
    let shared = this.inFlight.get(key);
    if (!shared) {
      // A shared fetch outlives any one caller's deadline; each caller still stops at its own.
      shared = this.post(body, headers, undefined).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, shared);
    }
    return shared;
  }

  private async post(body: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<RawResponse> {
    try {
      return await new Promise<RawResponse>((resolve, reject) => {
        this.pool.dispatch(
          {
            path: this.path,
            method: 'POST',
            headers,
            body,
            headersTimeout: this.timeoutMs,
            bodyTimeout: this.timeoutMs,
          },
          new TextResponseHandler(resolve, reject, signal),
        );
      });
    } catch {
      throw this.unavailable();
    }
  }

  /** A subgraph that cannot be reached, or answers what is not GraphQL, is reported as such, with its name. */
  private unavailable(): GraphQLError {
    return clientError(ErrorCode.ServiceUnavailable, `The ${this.subgraphName} service is unavailable`);
  }

  /** The same error @apollo/gateway's data source gives for an HTTP error status. */
  private errorFromResponse(response: RawResponse): GraphQLError {
    const statusText = STATUS_CODES[response.status] ?? '';
    let body: unknown = response.text;
    try {
      body = JSON.parse(response.text);
    } catch {
      // not JSON: kept as text
    }
    const extensions: Record<string, unknown> = { response: { url: this.url, status: response.status, statusText, body } };
    if (response.status === 401) extensions.code = 'UNAUTHENTICATED';
    else if (response.status === 403) extensions.code = 'FORBIDDEN';
    return new GraphQLError(`${response.status}: ${statusText}`, { extensions });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
