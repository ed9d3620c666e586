import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, print, visit } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  callSubgraph,
  ErrorCode,
  Role,
  secretOrDevelopmentDefault,
  signAccessToken,
  systemFork,
  type RunningSubgraph,
} from '@nexusflow/kit';
import { createTempDirectory, postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { analyticsUsageSource, checkSchema, composeSupergraph, formatCheckReport, SchemaRegistry } from '@nexusflow/schema-registry';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { ReportOperationUsageDocument } from '../../gateway/src/__generated__/nexusflow-analytics-operations.ts';
import type { AnalyticsServices } from '../../subgraphs/nexusflow/analytics/src/context.ts';
import { routesFor, startServices, TestServices } from '../support/services.ts';

const PERIOD = () => ({ from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() });
const CLIENTS = `query WebClients($from: DateTime!, $to: DateTime!) {
  clientUsage(from: $from, to: $to) { clientName clientVersion count errorCount operations p95DurationMs lastSeenAt }
}`;
const EVENTS = `query MobileEvents($from: DateTime!, $to: DateTime!, $type: String) {
  analyticsEvents(from: $from, to: $to, type: $type, first: 5) { id }
}`;
const OPERATIONS = `query ($from: DateTime!, $to: DateTime!, $first: Int) {
  operationUsage(from: $from, to: $to, first: $first) {
    operationHash operationName operationType count errorCount errorCodes averageDurationMs p95DurationMs lastSeenAt
    clients { clientName clientVersion count lastSeenAt }
  }
}`;

interface Caller {
  tenantId: string;
  userId: string;
  roles: Role[];
}

const callerOf = (roles: Role[], tenantId: string = randomUUID()): Caller => ({ tenantId, userId: randomUUID(), roles });

/**
 * The gateway reports what clients call, in batches, to analytics, which tenant admins read per operation and per
 * client, and which `schema:check --usage-days` reads to tell a removal nobody is hurt by from one that hurts named
 * clients: on embedded storage (as `npm start`) and on PostgreSQL.
 */
describe.each(storageModes(['postgres', 'amqp']))('usage reporting and usage-aware checks on $storage', ({ mode }) => {
  let services: TestServices;
  let analytics: RunningSubgraph<AnalyticsServices>;
  let gateway: RunningGateway;
  const admin = callerOf([Role.Admin]);

  beforeAll(async () => {
    services = await TestServices.create(mode, `usage_reporting_${mode}`);
    const running: Record<string, RunningSubgraph<unknown>> = {};
    await startServices(services, 'nexusflow', ['analytics'], running, { analytics: { ANALYTICS_PARTITION_INTERVAL_MS: '0' } });
    analytics = running.analytics as RunningSubgraph<AnalyticsServices>;
    gateway = await services.startGateway('nexusflow', routesFor('nexusflow', running), {
      USAGE_REPORT_INTERVAL_MS: '100',
      AUDIT: 'off',
    });
  });

  afterAll(async () => {
    await services?.close();
  });

  const send = async (caller: Caller, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const { token } = await signAccessToken(caller, secretOrDevelopmentDefault(undefined), 900);
    return postGraphQL<Record<string, any>>(gateway.graphqlUrl, query, { token, variables, headers });
  };

  const sql = <T>(query: string, params: unknown[] = []) => systemFork(analytics.database).execute(query, params) as Promise<T>;

  /** Waits until analytics has counted `count` calls of the tenant's operations (reports arrive after the responses). */
  const waitForCalls = (tenantId: string, count: number) =>
    expect
      .poll(
        async () =>
          Number(
            (
              await sql<{ calls: string | null }[]>(`select sum("count") as "calls" from "operation_usage" where "tenant_id" = ?`, [
                tenantId,
              ])
            )[0]?.calls ?? 0,
          ),
        { timeout: 20_000, interval: 50 },
      )
      .toBeGreaterThanOrEqual(count);

  it('reports each operation with its client, and shows a tenant admin its operations and clients, no other tenant’s', async () => {
    const web = { 'apollographql-client-name': 'web', 'apollographql-client-version': '2.3.1' };
    const mobile = { 'graphql-client-name': 'mobile', 'graphql-client-version': '1.0.0' };
    expect((await send(admin, CLIENTS, PERIOD(), web)).errors).toBeUndefined();
    expect((await send(admin, CLIENTS, PERIOD(), web)).errors).toBeUndefined();
    expect((await send(admin, EVENTS, { ...PERIOD(), type: 'workflow.created' }, mobile)).errors).toBeUndefined();
    const refused = await send(admin, EVENTS, { from: PERIOD().to, to: PERIOD().from }, mobile);
    expect(refused.errors?.[0]?.extensions?.code).toBe(ErrorCode.BadUserInput);
    await waitForCalls(admin.tenantId, 4);

    const operations = (await send(admin, OPERATIONS, PERIOD())).data!.operationUsage as Record<string, any>[];
    const byName = new Map(operations.map((operation) => [operation.operationName, operation]));
    expect(byName.get('WebClients')).toMatchObject({
      operationType: 'QUERY',
      count: 2,
      errorCount: 0,
      errorCodes: [],
      clients: [{ clientName: 'web', clientVersion: '2.3.1', count: 2 }],
    });
    expect(byName.get('WebClients')!.operationHash).toMatch(/^[0-9a-f]{64}$/);
    expect(byName.get('WebClients')!.p95DurationMs).toBeGreaterThan(0);
    // The same operation with other variables is the same operation; the refusal counts as its error.
    expect(byName.get('MobileEvents')).toMatchObject({
      count: 2,
      errorCount: 1,
      errorCodes: [ErrorCode.BadUserInput],
      clients: [{ clientName: 'mobile', clientVersion: '1.0.0', count: 2 }],
    });

    const clients = (await send(admin, CLIENTS, PERIOD())).data!.clientUsage as Record<string, unknown>[];
    expect(clients).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ clientName: 'web', clientVersion: '2.3.1', operations: 1, errorCount: 0 }),
        expect.objectContaining({ clientName: 'mobile', clientVersion: '1.0.0', count: 2, operations: 1, errorCount: 1 }),
      ]),
    );

    // The stranger's own calls are reported too (every 100 ms), so only the absence of the admin's is asserted.
    const stranger = callerOf([Role.Owner]);
    const strangersOperations = (await send(stranger, OPERATIONS, PERIOD())).data!.operationUsage as Record<string, any>[];
    const strangersOperationNames = strangersOperations.map((operation) => operation.operationName);
    expect(strangersOperationNames).not.toContain('WebClients');
    expect(strangersOperationNames).not.toContain('MobileEvents');
    const strangersClients = (await send(stranger, CLIENTS, PERIOD())).data!.clientUsage as Record<string, any>[];
    expect(strangersClients.map((client) => client.clientName)).toEqual(strangersClients.map(() => null));
  });

  it('refuses usage to a viewer, and the internal operations to clients', async () => {
    const viewer = callerOf([Role.Viewer], admin.tenantId);
    expect((await send(viewer, OPERATIONS, PERIOD())).errors?.[0]?.extensions?.code).toBe(ErrorCode.Forbidden);
    expect((await send(viewer, CLIENTS, PERIOD())).errors?.[0]?.extensions?.code).toBe(ErrorCode.Forbidden);
    const internal = await send(admin, `{ schemaCoordinateUsage(coordinates: ["Query.clientUsage"], days: 30) { coordinate } }`, {});
    expect(internal.errors?.[0]?.extensions?.code).toBe(ErrorCode.GraphQLValidationFailed);
    const report = await send(admin, `mutation { reportOperationUsage(reports: []) { recorded } }`, {});
    expect(report.errors?.[0]?.extensions?.code).toBe(ErrorCode.GraphQLValidationFailed);
  });

  it('counts a report delivered twice once, by its id', async () => {
    const tenantId = randomUUID();
    const report = {
      id: randomUUID(),
      startedAt: new Date(Date.now() - 10_000).toISOString(),
      endedAt: new Date().toISOString(),
      operations: [{ hash: 'a'.repeat(64), name: 'Retried', type: 'MUTATION' as const, coordinates: ['Mutation.createReport'] }],
      usage: [
        {
          tenantId,
          clientName: 'cli',
          clientVersion: '0.1.0',
          operationHash: 'a'.repeat(64),
          count: 3,
          errorCount: 0,
          errorCodes: [],
          durationMsSum: 30,
          durationBuckets: [0, 0, 0, 0, 3, ...Array.from({ length: 15 }, () => 0)],
          lastSeenAt: new Date().toISOString(),
        },
      ],
    };
    const deliver = () =>
      callSubgraph({
        url: analytics.graphqlUrl,
        query: ReportOperationUsageDocument,
        variables: { reports: [report] },
        identity: ANONYMOUS,
        internalSecret: secretOrDevelopmentDefault(undefined),
      });
    expect((await deliver()).reportOperationUsage).toEqual({ recorded: 1, alreadyRecorded: 0 });
    expect((await deliver()).reportOperationUsage).toEqual({ recorded: 0, alreadyRecorded: 1 });
    const rows = await sql<{ count: string }[]>(`select "count" from "operation_usage" where "tenant_id" = ?`, [tenantId]);
    expect(rows.map(({ count }) => Number(count))).toEqual([3]);
  });

  it('lets schema:check ship the removal of a field no client used, and name the clients of a used one', async () => {
    const owner = callerOf([Role.Owner]);
    const web = { 'apollographql-client-name': 'web', 'apollographql-client-version': '2.3.1' };
    expect((await send(owner, CLIENTS, PERIOD(), web)).errors).toBeUndefined();
    await waitForCalls(owner.tenantId, 1);
    const directory = await createTempDirectory('usage-check');
    services.onClose(directory.remove);
    const root = directory.path;
    const sdl = await readFile(new URL('../../subgraphs/nexusflow/analytics/schema.graphql', import.meta.url), 'utf8');
    const published = [{ name: 'analytics', url: analytics.graphqlUrl, sdl }];
    const registry = new SchemaRegistry(join(root, 'registry'));
    await registry.publish({ subgraphs: published, supergraphSdl: composeSupergraph(published), changes: [] });
    const proposed = print(
      visit(parse(sdl), {
        ObjectTypeDefinition: (type) =>
          type.name.value === 'Query'
            ? { ...type, fields: type.fields?.filter(({ name }) => name.value !== 'cohorts' && name.value !== 'clientUsage') }
            : undefined,
      }),
    );
    await writeFile(join(root, 'analytics.graphql'), proposed);
    await writeFile(
      join(root, 'supergraph.yaml'),
      ['subgraphs:', '  analytics:', `    routing_url: ${analytics.graphqlUrl}`, '    schema:', '      file: ./analytics.graphql'].join(
        '\n',
      ),
    );

    const report = await checkSchema({
      supergraphConfig: join(root, 'supergraph.yaml'),
      registryDirectory: registry.directory,
      operationDirectories: [],
      internalOperations: [],
      usage: {
        days: 30,
        source: analyticsUsageSource({ url: analytics.graphqlUrl, internalSecret: secretOrDevelopmentDefault(undefined) }),
        describedAs: 'analytics',
      },
    });

    const removal = (path: string) => report.changes.find((change) => change.type === 'FIELD_REMOVED' && change.path === path);
    expect(removal('Query.cohorts')?.usage).toEqual({ coordinate: 'Query.cohorts', days: 30, safe: true, clients: [] });
    expect(removal('Query.clientUsage')?.usage).toMatchObject({
      coordinate: 'Query.clientUsage',
      safe: false,
      // The first test's calls without client headers used it too, as an unnamed client.
      clients: expect.arrayContaining([
        { clientName: 'web', clientVersion: '2.3.1', count: expect.any(Number), lastSeenAt: expect.any(String) },
      ]),
    });
    expect(report.ok).toBe(false);
    expect(report.failures[0]).toMatch(/breaking change\(s\) not acknowledged \(used by .*web 2\.3\.1/);
    const text = formatCheckReport(report);
    expect(text).toContain('usage: no client used Query.cohorts in the last 30 day(s): safe to ship');
    expect(text).toMatch(/- web 2\.3\.1: \d+ call\(s\), last /);
  });
});

describe('usage reporting while analytics is down', () => {
  let services: TestServices;
  let gateway: RunningGateway;

  beforeAll(async () => {
    services = await TestServices.create('embedded', 'usage_reporting_down');
    // Every subgraph routed to a closed port: analytics is named by the supergraph, and unreachable.
    gateway = await services.startGateway('nexusflow', routesFor('nexusflow', {}), {
      USAGE_REPORT_INTERVAL_MS: '50',
      USAGE_BUFFER_REPORTS: '2',
      AUDIT: 'off',
    });
  });

  afterAll(async () => {
    await services?.close();
  });

  const metric = async (name: string, labels: Record<string, string> = {}) =>
    (await gateway.metrics.registry.getSingleMetric(name)?.get())?.values.find((value) =>
      Object.entries(labels).every(([key, label]) => value.labels[key] === label),
    )?.value ?? 0;

  it('answers every request, holds at most the bounded buffer, and counts what it drops', async () => {
    const headers = { 'apollographql-client-name': 'web', 'apollographql-client-version': '2.3.1' };
    await expect
      .poll(
        async () => {
          const response = await postGraphQL<{ __typename: string }>(gateway.graphqlUrl, 'query Ping { __typename }', { headers });
          expect(response.data).toEqual({ __typename: 'Query' });
          return metric('gateway_usage_records_dropped_total');
        },
        { timeout: 20_000, interval: 60 },
      )
      .toBeGreaterThan(0);
    expect(await metric('gateway_usage_delivery_failures_total', { transport: 'http' })).toBeGreaterThan(0);
    expect(await metric('gateway_usage_records_delivered_total', { transport: 'http' })).toBe(0);
    // The buffer, and at most one delivery's worth taken from it.
    expect(await metric('gateway_usage_records_buffered')).toBeLessThanOrEqual(4);
  });
});
