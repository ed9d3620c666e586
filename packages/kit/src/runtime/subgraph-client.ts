import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { Kind, print, type DocumentNode } from 'graphql';
import { ErrorCode, isErrorCode } from '../platform/errors.ts';
import { isTracing, recordFailure, SpanKind, startSpan, traceHeaders, withSpan, type Span } from '../platform/telemetry.ts';

export type { TypedDocumentNode };
import { signIdentity, type Identity } from '../platform/identity.ts';

/**
 * One call to another subgraph. `query` is, in the subgraphs, a document codegen typed from a `.graphql` file under
 * `src/operations/<target>/` against the target's schema, so the result and variables are typed and `schema:check`
 * validates the call; a plain string is accepted for callers outside that convention (tests, scripts).
 */
export interface SubgraphRequest<TResult = Record<string, unknown>, TVariables = Record<string, unknown>> {
  /** The subgraph's GraphQL endpoint. */
  url: string;
  query: TypedDocumentNode<TResult, TVariables> | string;
  variables?: TVariables;
  /** Whom the call is made for; signed the way the gateway signs it, so the subgraph applies its usual rules. */
  identity: Identity;
  internalSecret: string;
  /** Ends the request early, e.g. when the caller's own deadline passes. */
  signal?: AbortSignal;
  /** @default 10000 */
  timeoutMs?: number;
  /** The clock the identity is signed by. @default Date.now */
  now?: () => number;
}

/**
 * Codes that describe the moment rather than the request: the same request may well succeed later.
 * Every other code (bad input, missing rights, a conflict) would be answered the same way again.
 */
const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.ServiceUnavailable,
  ErrorCode.RateLimited,
  ErrorCode.InternalServerError,
]);

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Why a call to another subgraph failed. The message is the subgraph's own message for a GraphQL error, and never
 * names the address called, since callers may pass it on to users.
 */
export class SubgraphRequestError extends Error {
  override readonly name = 'SubgraphRequestError';

  constructor(
    message: string,
    readonly code: ErrorCode,
    /** Whether sending the same request again later could succeed. */
    readonly retryable: boolean,
    /** The HTTP status, when a response arrived. */
    readonly status?: number,
    /** How long the service asked to be left alone: its error's `retryAfterSeconds`, or its Retry-After header. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

interface GraphQLResponseBody<T> {
  data?: T | null;
  errors?: { message?: unknown; extensions?: { code?: unknown; retryAfterSeconds?: unknown } }[];
}

/**
 * One GraphQL request from a NexusFlow service to another service's subgraph, over HTTP with a signed identity.
 * Resolves to `data` when the subgraph answered without errors; rejects with a {@link SubgraphRequestError} otherwise.
 */
export async function callSubgraph<TResult, TVariables>(request: SubgraphRequest<TResult, TVariables>): Promise<TResult> {
  const span = isTracing()
    ? startSpan('subgraph.call', { kind: SpanKind.CLIENT, attributes: callAttributes(request.url, request.query) })
    : undefined;
  if (!span) return send(request, undefined);
  try {
    return await withSpan(span, () => send(request, span));
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

async function send<TResult, TVariables>(request: SubgraphRequest<TResult, TVariables>, span: Span | undefined): Promise<TResult> {
  const timeout = AbortSignal.timeout(request.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  let status: number | undefined;
  let retryAfterHeader: string | null = null;
  let body: GraphQLResponseBody<TResult>;
  try {
    const response = await fetch(request.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...signIdentity(request.identity, request.internalSecret, request.now?.()),
        ...(span ? traceHeaders() : undefined),
      },
      body: JSON.stringify({ query: textOf(request.query), variables: request.variables ?? {} }),
      signal,
    });
    status = response.status;
    span?.setAttribute('http.response.status_code', status);
    retryAfterHeader = response.headers.get('retry-after');
    body = (await response.json()) as GraphQLResponseBody<TResult>;
  } catch (error) {
    if (status === undefined || signal.aborted) {
      throw new SubgraphRequestError(`the request failed: ${reasonOf(error)}`, ErrorCode.ServiceUnavailable, true, status);
    }
    // Something other than GraphQL answered: a proxy's error page, say. Only its status says anything.
    throw new SubgraphRequestError(
      `the service answered ${status} without a GraphQL response`,
      codeForStatus(status),
      isTransientStatus(status),
      status,
      wholeSeconds(retryAfterHeader === null ? undefined : Number(retryAfterHeader)),
    );
  }

  const [first] = body.errors ?? [];
  if (first) {
    const code = isErrorCode(first.extensions?.code) ? first.extensions.code : codeForStatus(status);
    const message =
      typeof first.message === 'string' && first.message !== '' ? first.message : `the service answered ${status} with an error`;
    const retryAfter =
      wholeSeconds(first.extensions?.retryAfterSeconds) ?? wholeSeconds(retryAfterHeader === null ? undefined : Number(retryAfterHeader));
    throw new SubgraphRequestError(message, code, TRANSIENT_CODES.has(code), status, retryAfter);
  }
  if (status < 200 || status >= 300 || body.data === undefined || body.data === null) {
    throw new SubgraphRequestError(`the service answered ${status} without data`, codeForStatus(status), isTransientStatus(status), status);
  }
  return body.data;
}

function callAttributes(target: string, query: DocumentNode | string): Record<string, string> {
  const url = new URL(target);
  const attributes: Record<string, string> = {
    'http.request.method': 'POST',
    'server.address': url.hostname,
    'url.full': url.origin + url.pathname,
  };
  const operation = typeof query === 'string' ? undefined : query.definitions.find((node) => node.kind === Kind.OPERATION_DEFINITION);
  if (operation?.name) attributes['graphql.operation.name'] = operation.name.value;
  return attributes;
}

/** Printed once per document: the same few documents are sent again and again. */
const printed = new WeakMap<DocumentNode, string>();

function textOf(query: DocumentNode | string): string {
  if (typeof query === 'string') return query;
  let text = printed.get(query);
  if (text === undefined) {
    text = print(query);
    printed.set(query, text);
  }
  return text;
}

/** A count of seconds a service sent, when it is one; Retry-After's HTTP-date form is not used between our services. */
function wholeSeconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
}

function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

function codeForStatus(status: number): ErrorCode {
  if (status === 429) return ErrorCode.RateLimited;
  if (status >= 500) return ErrorCode.ServiceUnavailable;
  if (status === 401) return ErrorCode.Unauthenticated;
  if (status === 403) return ErrorCode.Forbidden;
  if (status === 413) return ErrorCode.PayloadTooLarge;
  return status >= 400 ? ErrorCode.BadRequest : ErrorCode.InternalServerError;
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    // fetch reports every network failure as "fetch failed"; the cause says which one.
    const cause = (error as { cause?: unknown }).cause;
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    if (error.name === 'TimeoutError') return 'timed out';
    if (error.name === 'AbortError') return 'aborted';
    return code ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
