import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Role, secretOrDevelopmentDefault, signAccessToken, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, startOtlpReceiver, storageModes, type OtlpReceiver, type ReceivedSpan } from '@nexusflow/kit/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { routesFor, startServices, TestServices } from '../support/services.ts';

const CREATE_WORKFLOW = `mutation CreateTidyWorkflow($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }`;
const TRANSFORM_ONLY = { name: 'Tidy', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] };

/** OTLP's span kinds. */
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

/** The spans of one trace, each with the chain of its ancestors' names up to the root. */
function traceOf(spans: readonly ReceivedSpan[], traceId: string) {
  const inTrace = spans.filter((span) => span.traceId === traceId);
  const byId = new Map(inTrace.map((span) => [span.spanId, span]));
  const ancestry = (span: ReceivedSpan): string[] => {
    const parent = byId.get(span.parentSpanId);
    return parent ? [...ancestry(parent), `${parent.serviceName}: ${parent.name}`] : [];
  };
  return { spans: inTrace, ancestry, find: (test: (span: ReceivedSpan) => boolean) => inTrace.find(test) };
}

describe.each(storageModes(['postgres', 'redis', 'amqp']))('traces and access logs on $storage', ({ mode }) => {
  let collector: OtlpReceiver;
  let services: TestServices;
  let gateway: RunningGateway;
  let subgraphs: Record<string, RunningSubgraph<unknown>>;
  let token: string;
  const accessLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    collector = await startOtlpReceiver();
    services = await TestServices.create(mode, `tracing_${mode}`);
    const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint };
    subgraphs = {};
    // Workflows records its events in an outbox; analytics consumes every event of the bus.
    await startServices(services, 'nexusflow', ['workflows', 'analytics'], subgraphs, {
      workflows: { ...tracing, OUTBOX_POLL_INTERVAL_MS: '50' },
      analytics: tracing,
    });
    const logger = pino(
      { name: 'gateway', level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          const line = JSON.parse(chunk.toString('utf8')) as Record<string, unknown>;
          if (line.msg === 'access') accessLines.push(line);
          done();
        },
      }),
    );
    gateway = await services.startGateway('nexusflow', routesFor('nexusflow', subgraphs), { ...tracing, LOG_LEVEL: 'info' }, { logger });
    const tenantId = randomUUID();
    token = (await signAccessToken({ userId: randomUUID(), tenantId, roles: [Role.Owner] }, secretOrDevelopmentDefault(undefined), 900))
      .token;
  });

  afterAll(async () => {
    await services?.close();
    await collector?.close();
  });

  it('follows one request from the gateway through the subgraph to its SQL, and its event to the consumer', async () => {
    const response = await postGraphQL<{ createWorkflow: { __typename: string; id: string } }>(gateway.graphqlUrl, CREATE_WORKFLOW, {
      token,
      variables: { input: TRANSFORM_ONLY },
      headers: { 'apollographql-client-name': 'tracing-suite', 'apollographql-client-version': '1.2.3' },
    });
    expect(response.errors).toBeUndefined();
    expect(response.data?.createWorkflow.__typename).toBe('Workflow');

    const [line] = accessLines.filter((candidate) => candidate.operationName === 'CreateTidyWorkflow');
    const traceId = String(line?.traceId);
    const consumedFromWorkflows = (received: readonly ReceivedSpan[]) => {
      const producers = new Set(
        received.filter((span) => span.serviceName === 'workflows' && span.kind === PRODUCER).map((span) => span.spanId),
      );
      return received.some(
        (span) =>
          span.traceId === traceId && span.serviceName === 'analytics' && span.kind === CONSUMER && producers.has(span.parentSpanId),
      );
    };
    const spans = await collector.waitFor(consumedFromWorkflows);
    const trace = traceOf(spans, traceId);

    const request = trace.find((span) => span.serviceName === 'gateway' && span.kind === SERVER)!;
    expect(request).toMatchObject({
      name: 'POST /graphql',
      parentSpanId: '',
      attributes: expect.objectContaining({
        'graphql.operation.name': 'CreateTidyWorkflow',
        'graphql.operation.type': 'mutation',
        'graphql.document.hash': expect.stringMatching(/^[\da-f]{64}$/),
        'client.name': 'tracing-suite',
        'client.version': '1.2.3',
        'http.response.status_code': 200,
      }),
    });
    const fetch = trace.find((span) => span.serviceName === 'gateway' && span.name === 'subgraph workflows')!;
    expect(fetch.kind).toBe(CLIENT);
    expect(trace.ancestry(fetch)).toEqual(['gateway: POST /graphql', 'gateway: graphql.execute']);
    expect(trace.find((span) => span.serviceName === 'gateway' && span.name === 'graphql.plan')?.parentSpanId).toBe(request.spanId);

    const served = trace.find((span) => span.serviceName === 'workflows' && span.kind === SERVER)!;
    expect(served.parentSpanId).toBe(fetch.spanId);
    expect(served.attributes['graphql.operation.type']).toBe('mutation');
    const insert = trace.find((span) => span.serviceName === 'workflows' && span.name === 'INSERT workflows')!;
    expect(insert.attributes).toMatchObject({
      'db.system': 'postgresql',
      'db.statement': expect.stringMatching(/^insert into "workflows"/),
    });
    expect(String(insert.attributes['db.statement'])).not.toContain('Tidy');
    expect(trace.ancestry(insert).slice(0, 4)).toEqual([
      'gateway: POST /graphql',
      'gateway: graphql.execute',
      'gateway: subgraph workflows',
      'workflows: POST /graphql',
    ]);

    // With a broker the gateway publishes its audit record of the mutation too, which analytics consumes as well.
    const producers = trace.spans.filter((span) => span.serviceName === 'workflows' && span.kind === PRODUCER);
    const consumed = trace.find(
      (span) =>
        span.serviceName === 'analytics' && span.kind === CONSUMER && producers.some((producer) => producer.spanId === span.parentSpanId),
    )!;
    const published = producers.find((producer) => producer.spanId === consumed.parentSpanId)!;
    expect(trace.ancestry(published).at(-1)).toBe('workflows: POST /graphql');
    expect(consumed.attributes['messaging.system']).toBe(mode === 'postgres' ? 'rabbitmq' : 'in-memory');
    // Stored under the consumer's span, or, written in a batch with other events, under the batch's span, which is a child
    // of one of the batch's consumers' spans and links to the others'.
    const holdsConsumed = (span: ReceivedSpan) =>
      span.parentSpanId === consumed.spanId || span.links.some((link) => link.spanId === consumed.spanId);
    const batches = new Set(spans.filter((span) => span.name === 'analytics insert' && holdsConsumed(span)).map((span) => span.spanId));
    const stored = spans.filter(
      (span) => span.name.startsWith('INSERT') && (span.parentSpanId === consumed.spanId || batches.has(span.parentSpanId)),
    );
    expect(stored.map((span) => span.serviceName)).toContain('analytics');
  });

  it('logs one access line per request, with its operation, client, tenant, status, duration, request id and trace id', async () => {
    const before = accessLines.length;
    const response = await postGraphQL(gateway.graphqlUrl, 'query Nothing { __typename }', {
      token,
      headers: { 'x-request-id': 'req-tracing-1', 'apollographql-client-name': 'tracing-suite' },
    });
    expect(response.status).toBe(200);

    const lines = accessLines.slice(before);
    expect(lines).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: '/graphql',
        operationName: 'Nothing',
        operationType: 'query',
        clientName: 'tracing-suite',
        tenantId: expect.stringMatching(/^[\da-f-]{36}$/),
        status: 200,
        durationMs: expect.any(Number),
        requestId: 'req-tracing-1',
        traceId: expect.stringMatching(/^[\da-f]{32}$/),
      }),
    ]);
    await collector.waitFor((received) => received.some((span) => span.traceId === lines[0]!.traceId && span.serviceName === 'gateway'));
  });

  it('logs a request refused before GraphQL with its status and error code', async () => {
    const before = accessLines.length;
    const response = await postGraphQL(gateway.graphqlUrl, 'query Nothing { __typename }', { token: 'not-a-token' });
    expect(response.status).toBe(401);
    expect(accessLines.slice(before)).toEqual([expect.objectContaining({ status: 401, errorCodes: ['UNAUTHENTICATED'] })]);
  });
});

describe('without an OTLP endpoint', () => {
  let services: TestServices;
  const subgraphs: Record<string, RunningSubgraph<unknown>> = {};

  beforeAll(async () => {
    services = await TestServices.create('embedded', 'tracing_off');
    await startServices(services, 'nexusflow', ['workflows'], subgraphs);
  });

  afterAll(async () => {
    await services?.close();
  });

  /** A gateway in front of workflows alone, whose log lines the test reads. */
  async function gatewayLogging(overrides: Record<string, string> = {}) {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
          done();
        },
      }),
    );
    const environment = { LOG_LEVEL: 'info', USAGE_REPORTING: 'off', AUDIT: 'off', ...overrides };
    const gateway = await services.startGateway('nexusflow', routesFor('nexusflow', subgraphs), environment, { logger });
    return { gateway, lines };
  }

  it('traces nothing, answers as usual, and keeps the caller’s trace id in the access log', async () => {
    const { gateway, lines } = await gatewayLogging();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

    const response = await postGraphQL(gateway.graphqlUrl, 'query Nothing { __typename }', {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });

    expect(response.data).toEqual({ __typename: 'Query' });
    expect(lines.filter((line) => line.msg === 'access')).toEqual([expect.objectContaining({ status: 200, traceId })]);
    expect(subgraphs.workflows!.telemetry.tracer).toBeUndefined();
    expect(lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
  });

  it('logs no access line with GATEWAY_ACCESS_LOG=false', async () => {
    const { gateway, lines } = await gatewayLogging({ GATEWAY_ACCESS_LOG: 'false' });

    expect((await postGraphQL(gateway.graphqlUrl, 'query Nothing { __typename }')).status).toBe(200);

    expect(lines.filter((line) => line.msg === 'access')).toEqual([]);
  });
});
