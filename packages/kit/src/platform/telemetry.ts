import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  context,
  createContextKey,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from './config.ts';
import type { RouteHandler } from './http.ts';

export { SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type SpanExporter, type Tracer };

/**
 * OpenTelemetry traces, instrumented by hand at the kit's own seams (HTTP servers, calls between services, SQL, the
 * event bus, work queues): auto-instrumentation's require hooks do not see ES modules reliably. Each service (and the
 * gateway) has its own tracer provider, so that services sharing a process (the embedded host, tests) still export
 * spans under their own `service.name`; the tracer travels in the active context, which is how a seam deep down (a
 * SQL statement) knows which service it runs for, and whether tracing is on at all: without a tracer in the context a
 * seam does nothing but that one look-up.
 */
export interface Telemetry {
  /** Undefined when tracing is off (no OTLP endpoint configured). */
  readonly tracer: Tracer | undefined;
  readonly serviceName: string;
  /**
   * Runs `fn` as this service: the seams it reaches (and the timers, consumers and promises it starts) trace with this
   * service's tracer, as children of whatever span is active.
   */
  run<T>(fn: () => T): T;
  /** Exports the spans still buffered. */
  flush(): Promise<void>;
  /** Exports the spans still buffered, then stops; spans ended afterwards are dropped. */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /**
   * Where finished spans go instead of OTLP, each as soon as it ends (tests give an `InMemorySpanExporter`). Tracing is
   * on with one, whatever the configuration says about an endpoint.
   */
  exporter?: SpanExporter;
}

const TRACER = createContextKey('nexusflow.tracer');

/** Spans a statement text may carry at most: enough to recognise it, not a whole bulk insert. */
const MAX_STATEMENT_LENGTH = 2048;

const propagator = new W3CTraceContextPropagator();

/** Reads `traceparent`/`tracestate` from Node's HTTP headers or AMQP message headers alike. */
const headerGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
    return undefined;
  },
};

const disabled = (serviceName: string): Telemetry => ({
  tracer: undefined,
  serviceName,
  run: (fn) => fn(),
  flush: async () => undefined,
  shutdown: async () => undefined,
});

let contextManagerInstalled = false;

/** The context manager is process-wide and only installed once something traces: a process that never does pays nothing for it. */
function installContextManager(): void {
  if (contextManagerInstalled) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextManagerInstalled = true;
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.ratio);
  return config.parentBased ? new ParentBasedSampler({ root: ratio }) : ratio;
}

/**
 * A service's telemetry from its configuration: a tracer provider exporting to the OTLP endpoint in batches, sampled
 * as OTEL_TRACES_SAMPLER says; or, with no endpoint, nothing at all.
 */
export function createTelemetry(config: TracingConfig, options: TelemetryOptions = {}): Telemetry {
  if (config.tracesEndpoint === undefined && options.exporter === undefined) return disabled(config.serviceName);
  installContextManager();
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: config.tracesEndpoint, headers: config.headers }));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
    sampler: samplerOf(config),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('@nexusflow/kit');
  let stopped: Promise<void> | undefined;
  return {
    tracer,
    serviceName: config.serviceName,
    run: (fn) => context.with(context.active().setValue(TRACER, tracer), fn),
    flush: () => provider.forceFlush(),
    shutdown: () => (stopped ??= provider.shutdown()),
  };
}

/** The tracer of the service the caller runs for, when that service traces. */
export function activeTracer(): Tracer | undefined {
  return context.active().getValue(TRACER) as Tracer | undefined;
}

/** Whether the service the caller runs for traces: what a seam checks before spending anything on tracing. */
export function isTracing(): boolean {
  return context.active().getValue(TRACER) !== undefined;
}

/**
 * Starts a child of the active span with the active service's tracer; undefined when the service does not trace.
 * With `requireParent`, also undefined outside a trace: background polling (an outbox relay, a health check) is not
 * worth a trace of its own for each statement.
 */
export function startSpan(name: string, options: SpanOptions = {}, requireParent = false): Span | undefined {
  const active = context.active();
  const tracer = active.getValue(TRACER) as Tracer | undefined;
  if (!tracer) return undefined;
  if (requireParent && !trace.getSpan(active)) return undefined;
  return tracer.startSpan(name, options, active);
}

/** Runs `fn` with `span` active (and the active service's tracer kept). */
export function withSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Marks a span failed, naming the error's type and, unless `withMessage` is false (messages that may hold data), its message. */
export function recordFailure(span: Span, error: unknown, withMessage = true): void {
  const code = (error as { code?: unknown } | undefined)?.code;
  const type = typeof code === 'string' ? code : error instanceof Error ? error.name : typeof error;
  span.setAttribute('error.type', type);
  const message = withMessage && error instanceof Error ? error.message.slice(0, 300) : type;
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/**
 * Runs `fn` in a child span of the active one, ended when its promise settles and marked failed if it rejects. Without
 * tracing, just runs `fn`.
 */
export async function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  const span = startSpan(name, options);
  if (!span) return fn(undefined);
  try {
    return await withSpan(span, () => fn(span));
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** W3C trace context headers (`traceparent`, `tracestate`) for the active span, or for `from`; undefined outside a trace. */
export function traceHeaders(from: Context = context.active()): Record<string, string> | undefined {
  if (!trace.getSpanContext(from)) return undefined;
  const carrier: Record<string, string> = {};
  propagator.inject(from, carrier, defaultTextMapSetter);
  return carrier;
}

/** The remote parent W3C trace context headers name (HTTP or message headers), as a context with no other value in it. */
export function contextFromHeaders(headers: Record<string, unknown> | IncomingHttpHeaders | undefined): Context {
  if (!headers || headers.traceparent === undefined) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, headers, headerGetter);
}

/** `parent` as the service `tracer` traces it. */
export function contextFor(tracer: Tracer, parent: Context): Context {
  return parent.setValue(TRACER, tracer);
}

/** The active context with only what a later, unrelated piece of work needs to continue its trace: span and tracer. */
export function captureTraceContext(): Context | undefined {
  const active = context.active();
  const tracer = active.getValue(TRACER) as Tracer | undefined;
  const spanContext = trace.getSpanContext(active);
  if (!tracer || !spanContext) return undefined;
  return trace.setSpanContext(contextFor(tracer, ROOT_CONTEXT), spanContext);
}

/**
 * Runs `fn` for work done at once for several traced pieces of work (a batch written for many messages): in the first
 * one's context, within a span that links to the others' (OpenTelemetry's way of showing a batch), so that each
 * message's trace leads to the write; `fn` alone (in its one item's context) for a batch of one or an untraced first.
 */
export function inBatchSpan<T>(name: string, captured: readonly (Context | undefined)[], fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = captured;
  if (!first || rest.length === 0) return runInContext(first, fn);
  const links = rest.flatMap((other) => {
    const spanContext = other && trace.getSpanContext(other);
    return spanContext ? [{ context: spanContext }] : [];
  });
  return runInContext(first, () => inSpan(name, { attributes: { 'batch.size': captured.length }, links }, fn));
}

/** Runs `fn` in a context {@link captureTraceContext} captured (or as it is, without one). */
export function runInContext<T>(captured: Context | undefined, fn: () => T): T {
  return captured ? context.with(captured, fn) : fn();
}

/**
 * Starts the span of sending a message, a child of the active one, and the W3C headers that carry it to the
 * consumer; undefined when the sending service does not trace.
 */
export function startProducerSpan(name: string, attributes: Attributes): { span: Span; headers: Record<string, string> } | undefined {
  const span = startSpan(name, { kind: SpanKind.PRODUCER, attributes });
  if (!span) return undefined;
  return { span, headers: traceHeaders(trace.setSpan(context.active(), span)) ?? {} };
}

/** Ends `span` when `promise` settles, marked failed if it rejects. */
export async function endWhenSettled<T>(span: Span | undefined, promise: Promise<T>): Promise<T> {
  if (!span) return promise;
  try {
    return await promise;
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Runs a message's handler in the span of its processing: a child of its producer's span (the trace context in its
 * headers), recorded by `tracer`, the consuming service's (the one active where the consumer was started). Without a
 * tracer, just runs the handler.
 */
export async function traceConsumption(
  tracer: Tracer | undefined,
  name: string,
  headers: Record<string, unknown> | undefined,
  attributes: Attributes,
  handle: () => Promise<void>,
): Promise<void> {
  if (!tracer) return handle();
  const parent = contextFor(tracer, contextFromHeaders(headers));
  const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
  try {
    await context.with(trace.setSpan(parent, span), handle);
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * A SQL statement as a span may carry it: literals (which hold the data, passwords and tokens included) replaced by
 * `?`, and cut to {@link MAX_STATEMENT_LENGTH} characters.
 */
export function sanitizeStatement(sql: string): string {
  const sanitized = sql
    .replace(/\bE'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'/g, '?')
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, '?')
    .replace(/\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi, '?');
  return sanitized.length > MAX_STATEMENT_LENGTH ? `${sanitized.slice(0, MAX_STATEMENT_LENGTH)}…` : sanitized;
}

/** `SELECT workflows`, `INSERT outbox_events`, `BEGIN`: the low-cardinality name of a statement's span. */
export function statementSpanName(sql: string): string {
  const operation = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'SQL';
  const table = /\b(?:from|into|update)\s+"?([\w.]+)"?/i.exec(sql)?.[1];
  return table ? `${operation} ${table}` : operation;
}

/**
 * Records a statement that already ran (MikroORM reports statements once done, with their duration) as a child of
 * the active span. Only inside a trace: a statement of no request or job is not worth a trace of its own.
 */
export function recordStatement(sql: string, tookMs: number | undefined, failed: boolean): void {
  const now = Date.now();
  const span = startSpan(
    statementSpanName(sql),
    {
      kind: SpanKind.CLIENT,
      startTime: now - (tookMs ?? 0),
      attributes: { 'db.system': 'postgresql', 'db.system.name': 'postgresql', 'db.statement': sanitizeStatement(sql) },
    },
    true,
  );
  if (!span) return;
  if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: 'the statement failed' });
  span.end(now);
}

/**
 * Wraps the route serving `path` in a server span that continues the caller's trace (`traceparent`), with the
 * service's tracer active for everything the request does. Without tracing, the route itself.
 */
export function tracedRoute(telemetry: Telemetry, path: string, route: RouteHandler): RouteHandler {
  const { tracer } = telemetry;
  if (!tracer) return route;
  return (req, res, url) => {
    if (url.pathname !== path) return route(req, res, url);
    const { span, context: active } = startServerSpan(tracer, req, path);
    endWithResponse(span, res);
    return context.with(active, () => route(req, res, url));
  };
}

/** A server span for an HTTP request, continuing the caller's trace. */
export function startServerSpan(tracer: Tracer, req: IncomingMessage, route: string): { span: Span; context: Context } {
  const method = req.method ?? 'GET';
  const parent = contextFor(tracer, contextFromHeaders(req.headers));
  const span = tracer.startSpan(
    `${method} ${route}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route, 'url.path': route } },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends the span once the response is sent, or its connection lost, with the status code. */
export function endWithResponse(span: Span, res: ServerResponse): void {
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (!res.writableFinished)
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the connection closed before the response was sent' });
    else if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}

const codeOf = (code: unknown): string => (typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR');

/** The operation's name, type and errors on the request's span (the active one), as GraphQL's semantic conventions name them. */
export function graphqlSpanPlugin<C extends BaseContext>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      const span = trace.getActiveSpan();
      if (!span) return;
      return {
        async didResolveOperation({ operationName, operation }) {
          if (operation) span.setAttribute('graphql.operation.type', operation.operation);
          if (operationName) span.setAttribute('graphql.operation.name', operationName);
        },
        async willSendResponse({ response, errors }) {
          const body = response.body.kind === 'single' ? response.body.singleResult : response.body.initialResult;
          const reported = body.errors ?? errors ?? [];
          if (reported.length === 0) return;
          const codes = [...new Set(reported.map((error) => codeOf(error.extensions?.code)))];
          span.setAttribute('graphql.error.codes', codes);
          span.setStatus({ code: SpanStatusCode.ERROR, message: codes.join(',') });
        },
      };
    },
  };
}
