import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, trace } from '@opentelemetry/api';
import { connect, type ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDeferred, InMemorySpanExporter, recordingLogger, testEnvironment, type ReadableSpan } from '../testing/index.ts';
import { createEventBus, InMemoryEventBus, RabbitEventBus, type DomainEvent, type EventBus } from '../messaging/event-bus.ts';
import { InMemoryWorkQueue } from '../messaging/work-queue.ts';
import { ANONYMOUS } from '../platform/identity.ts';
import { callSubgraph } from './subgraph-client.ts';
import { parseConfig, toTracingConfig, tracingEnvShape, type TracingConfig } from '../platform/config.ts';
import { createHttpServer, listen, sendJson, type RunningHttpServer } from '../platform/http.ts';
import { Metrics } from '../platform/metrics.ts';
import { createTelemetry, inSpan, sanitizeStatement, statementSpanName, tracedRoute, type Telemetry } from '../platform/telemetry.ts';

const tracingEnv = z.object(tracingEnvShape);
const SECRET = 'a-test-secret-of-at-least-32-characters';

function tracingOf(env: Record<string, string>): TracingConfig {
  return toTracingConfig('workflows', parseConfig(tracingEnv, env));
}

/** A service's telemetry exporting to memory, as each of several services sharing a process would have its own. */
function traced(serviceName: string): { telemetry: Telemetry; spans: InMemorySpanExporter } {
  const spans = new InMemorySpanExporter();
  const telemetry = createTelemetry({ ...tracingOf({}), serviceName }, { exporter: spans });
  return { telemetry, spans };
}

const named = (spans: InMemorySpanExporter, name: string): ReadableSpan[] => spans.getFinishedSpans().filter((span) => span.name === name);

function only(spans: InMemorySpanExporter, name: string): ReadableSpan {
  const found = named(spans, name);
  expect(found.map((span) => span.name)).toEqual([name]);
  return found[0]!;
}

const event = (type: string): DomainEvent => ({ id: randomUUID(), type, occurredAt: new Date().toISOString(), payload: {} });

describe('tracing configuration', () => {
  it('is off without an OTLP endpoint, named after the service and sampling every trace its caller sampled', () => {
    expect(tracingOf({})).toEqual({ serviceName: 'workflows', tracesEndpoint: undefined, headers: {}, parentBased: true, ratio: 1 });
  });

  it('sends traces to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces, unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names the full URL', () => {
    expect(tracingOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://datadog-agent:4318/' }).tracesEndpoint).toBe(
      'http://datadog-agent:4318/v1/traces',
    );
    expect(
      tracingOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://agent:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/traces' })
        .tracesEndpoint,
    ).toBe('http://collector:4318/traces');
    expect(tracingOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://agent:4318', OTEL_SDK_DISABLED: 'true' }).tracesEndpoint).toBeUndefined();
  });

  it('reads the sampler, its ratio, the service name and the exporter headers from OpenTelemetry’s own variables', () => {
    expect(
      tracingOf({
        OTEL_SERVICE_NAME: 'workflows-eu',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_EXPORTER_OTLP_HEADERS: 'dd-api-key=abc%3D,x-team = flows',
      }),
    ).toMatchObject({ serviceName: 'workflows-eu', parentBased: true, ratio: 0.25, headers: { 'dd-api-key': 'abc=', 'x-team': 'flows' } });
    expect(tracingOf({ OTEL_TRACES_SAMPLER: 'always_off' })).toMatchObject({ parentBased: false, ratio: 0 });
    expect(tracingOf({ OTEL_TRACES_SAMPLER: 'traceidratio' })).toMatchObject({ parentBased: false, ratio: 1 });
  });

  it('refuses a ratio outside 0..1, an unknown sampler and headers that are not key=value, without echoing them', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseConfig(tracingEnv, env);
        return [];
      } catch (error) {
        return (error as { problems: string[] }).problems;
      }
    };
    expect(problems({ OTEL_TRACES_SAMPLER_ARG: '2' })).toEqual([expect.stringMatching(/^OTEL_TRACES_SAMPLER_ARG: /)]);
    expect(problems({ OTEL_TRACES_SAMPLER: 'sometimes' })).toEqual([expect.stringMatching(/^OTEL_TRACES_SAMPLER: /)]);
    expect(problems({ OTEL_EXPORTER_OTLP_HEADERS: 'secret-api-key' })).toEqual([
      'OTEL_EXPORTER_OTLP_HEADERS: must be key=value pairs separated by commas',
    ]);
  });
});

describe('SQL statements on spans', () => {
  it('replace every literal, where passwords and tokens would be, by a placeholder', () => {
    expect(
      sanitizeStatement(
        `insert into "users" ("email", "password_hash", "attempts") values ('ann@example.com', 'it''s $argon2', 3) returning "id"`,
      ),
    ).toBe(`insert into "users" ("email", "password_hash", "attempts") values (?, ?, ?) returning "id"`);
    expect(sanitizeStatement(`select "t0".* from "sessions" as "t0" where "t0"."token" = E'abc\\'' limit 10`)).toBe(
      `select "t0".* from "sessions" as "t0" where "t0"."token" = ? limit ?`,
    );
  });

  it('are cut to 2 KiB, and named by operation and table', () => {
    expect(sanitizeStatement(`select ${'"a", '.repeat(1000)}"b" from "t"`)).toHaveLength(2049);
    expect(statementSpanName('select "w0".* from "workflows" as "w0"')).toBe('SELECT workflows');
    expect(statementSpanName('insert into "outbox_events" ("type") values (?)')).toBe('INSERT outbox_events');
    expect(statementSpanName('begin')).toBe('BEGIN');
  });
});

describe('HTTP traces between services', () => {
  let upstream: Server;
  let upstreamUrl: string;
  let received: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      received.push(req.headers);
      req.resume();
      req.on('end', () => sendJson(res, 200, { data: { ok: true } }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/graphql`;
  });

  afterEach(() => {
    received = [];
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  const call = () => callSubgraph({ url: upstreamUrl, query: 'query Ping { ok }', identity: ANONYMOUS, internalSecret: SECRET });

  it('send no trace context and record nothing when the service does not trace', async () => {
    const telemetry = createTelemetry(tracingOf({}));

    await telemetry.run(call);

    expect(telemetry.tracer).toBeUndefined();
    expect(received[0]?.traceparent).toBeUndefined();
  });

  it('carry the caller’s trace to the service called, in a client span of the calling service', async () => {
    const { telemetry, spans } = traced('notifications');

    await telemetry.run(() => inSpan('deliver', {}, call));

    const client = only(spans, 'subgraph.call');
    expect(client.kind).toBe(SpanKind.CLIENT);
    expect(client.resource.attributes['service.name']).toBe('notifications');
    expect(client.parentSpanContext?.spanId).toBe(only(spans, 'deliver').spanContext().spanId);
    expect(received[0]?.traceparent).toBe(`00-${client.spanContext().traceId}-${client.spanContext().spanId}-01`);
  });

  it('continue in the server span of the service called, which is the caller’s child', async () => {
    const { telemetry, spans } = traced('auth');
    const route = tracedRoute(telemetry, '/graphql', (_req, res) => {
      sendJson(res, 200, { data: {} });
      return true;
    });
    const server: RunningHttpServer = await listen(
      createHttpServer({ routes: [route], logger: recordingLogger().logger, metrics: new Metrics('telemetry-test') }),
      0,
      '127.0.0.1',
    );
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    try {
      await fetch(`${server.url}/graphql`, { method: 'POST', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
      await fetch(`${server.url}/graphql`, { method: 'POST' });
    } finally {
      await server.close();
    }

    const [continued, started] = named(spans, 'POST /graphql');
    expect(continued?.kind).toBe(SpanKind.SERVER);
    expect(continued?.spanContext().traceId).toBe(traceId);
    expect(continued?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(continued?.attributes['http.response.status_code']).toBe(200);
    expect(started?.spanContext().traceId).not.toBe(traceId);
    expect(started?.parentSpanContext).toBeUndefined();
  });
});

/** A bus event published in one service's span is processed in a span of the consuming service that continues the trace. */
function continuesTracesAcrossTheBus(openBus: () => EventBus, queues: string[] = []) {
  it('continues the publisher’s trace in the consumer’s span, recorded by the consuming service', async () => {
    const publisher = traced('workflows');
    const consumer = traced('notifications');
    const bus = openBus();
    const handled = createDeferred<void>();
    const queue = `telemetry-${randomUUID()}`;
    queues.push(queue);
    try {
      const subscription = await consumer.telemetry.run(() =>
        bus.subscribe({ queue, bindings: ['telemetry.traced'] }, async () => {
          await inSpan('send notification', {}, async () => undefined);
          handled.resolve();
        }),
      );
      await publisher.telemetry.run(() => inSpan('run workflow', {}, () => bus.publish(event('telemetry.traced'))));
      await handled.promise;
      await subscription.stop();
    } finally {
      await bus.close();
    }

    const request = only(publisher.spans, 'run workflow');
    const [published] = publisher.spans.getFinishedSpans().filter((span) => span.kind === SpanKind.PRODUCER);
    const processed = only(consumer.spans, `process ${queue}`);
    expect(published?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(processed.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(processed.parentSpanContext?.spanId).toBe(published?.spanContext().spanId);
    expect(only(consumer.spans, 'send notification').parentSpanContext?.spanId).toBe(processed.spanContext().spanId);
  });

  it('starts no span and carries no trace context when neither service traces', async () => {
    const bus = openBus();
    const handled = createDeferred<unknown>();
    const queue = `telemetry-${randomUUID()}`;
    queues.push(queue);
    try {
      const subscription = await bus.subscribe({ queue, bindings: ['telemetry.untraced'] }, async () =>
        handled.resolve(trace.getActiveSpan()),
      );
      await bus.publish(event('telemetry.untraced'));
      expect(await handled.promise).toBeUndefined();
      await subscription.stop();
    } finally {
      await bus.close();
    }
  });
}

describe('traces across the in-memory event bus', () => {
  continuesTracesAcrossTheBus(() => new InMemoryEventBus(recordingLogger().logger));
});

describe.runIf(testEnvironment.amqpUrl)('traces across RabbitMQ', () => {
  const amqpUrl = testEnvironment.amqpUrl!;
  // An exchange and queues of this run's own, so that parallel runs never see each other's events; deleted after.
  const namespace = `telemetry-${randomUUID().slice(0, 8)}`;
  const exchange = `${namespace}.events`;
  const queues: string[] = [];
  let admin: ChannelModel;

  beforeAll(async () => {
    admin = await connect(amqpUrl);
  });

  afterAll(async () => {
    const channel = await admin.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
    await admin.close();
  });

  continuesTracesAcrossTheBus(() => new RabbitEventBus(amqpUrl, recordingLogger().logger, { exchange }), queues);

  it('carries the W3C trace context in the message headers', async () => {
    const { telemetry } = traced('workflows');
    const bus = createEventBus(amqpUrl, recordingLogger().logger, namespace);
    const queue = `telemetry-${randomUUID()}`;
    queues.push(queue);
    try {
      // Declared and bound by a subscription, then left to hold what arrives, as RabbitMQ keeps it.
      await (await bus.subscribe({ queue, bindings: ['telemetry.headers'] }, async () => undefined)).stop();
      await telemetry.run(() => inSpan('publish', {}, () => bus.publish(event('telemetry.headers'))));
    } finally {
      await bus.close();
    }
    const channel = await admin.createChannel();
    const message = await channel.get(queue, { noAck: true });
    await channel.close();
    expect(message && String(message.properties.headers?.traceparent)).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-01$/);
  });
});

describe('traces across in-memory work queues', () => {
  it('continue the enqueuer’s trace in the job’s span', async () => {
    const producer = traced('integrations');
    const worker = traced('integrations-worker');
    const queue = new InMemoryWorkQueue<{ contact: string }>('telemetry-sync', recordingLogger().logger);
    const handled = createDeferred<void>();
    try {
      await worker.telemetry.run(() => queue.consume(async () => handled.resolve()));
      await producer.telemetry.run(() => inSpan('sync', {}, () => queue.enqueue({ contact: 'c-1' })));
      await handled.promise;
    } finally {
      await queue.close();
    }
    const job = only(worker.spans, 'process telemetry-sync');
    expect(job.spanContext().traceId).toBe(only(producer.spans, 'sync').spanContext().traceId);
    expect(job.parentSpanContext?.spanId).toBe(only(producer.spans, 'publish telemetry-sync').spanContext().spanId);
  });
});
