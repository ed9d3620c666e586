import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApolloGateway, type GatewayConfig } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { DocumentNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity, Role } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import {
  CreateScheduleDocument,
  CreateWorkflowDocument,
  ExecutionDetailsDocument,
  MeDocument,
  MyNotificationsDocument,
  MyWorkflowsDocument,
  RegisterDocument,
  RunWorkflowDocument,
  ScheduleDetailsDocument,
  UserByIdDocument,
  WorkflowListDocument,
  WorkflowSchedulesDocument,
} from '@nexusflow/web-client';
import { DEFAULT_SUPERGRAPH_PATH } from '../../gateway/src/config.ts';
import type { GatewayContext } from '../../gateway/src/context.ts';
import { FastGateway } from '../../gateway/src/execution/gateway.ts';
import { asStockServes } from '../../gateway/src/execution/supergraph.ts';
import { SubgraphDataSource } from '../../gateway/src/subgraph-data-source.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

/**
 * Every query the web client sends, against the real subgraphs, through our executor and through stock
 * @apollo/gateway's, with the same data sources, identity and server: the responses must be the same bytes.
 */
describe('the web client’s queries give the same responses through our executor as through stock @apollo/gateway', () => {
  let stack: Stack;
  let stock: ApolloServer<GatewayContext>;
  let ours: ApolloServer<GatewayContext>;
  let context: GatewayContext;
  const ids = { user: '', workflow: '', execution: '', schedule: '' };

  beforeAll(async () => {
    stack = await startStack('embedded', 'same_results');
    const graphqlUrl = stack.gateway.graphqlUrl;
    const registered = (
      await postGraphQL(graphqlUrl, RegisterDocument, {
        variables: {
          input: { email: `same-${randomUUID()}@example.com`, password: 'correct horse battery', name: 'Same', tenantName: 'Same Co' },
        },
      })
    ).data?.register;
    if (registered?.__typename !== 'AuthSession') throw new Error('registration failed');
    const token = registered.accessToken;
    const created = (
      await postGraphQL(graphqlUrl, CreateWorkflowDocument, {
        token,
        variables: { input: { name: 'Compared', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] } },
      })
    ).data?.createWorkflow;
    if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
    const watch = await WorkflowWatch.start(stack.workflows.pubsub, created.id);
    const run = (await postGraphQL(graphqlUrl, RunWorkflowDocument, { token, variables: { id: created.id } })).data?.runWorkflow;
    if (run?.__typename !== 'Execution') throw new Error('runWorkflow failed');
    await watch.finished(run.id);
    await watch.close();
    const schedule = (
      await postGraphQL(graphqlUrl, CreateScheduleDocument, {
        token,
        variables: { input: { workflowId: created.id, name: 'Hourly', cron: '0 * * * *', timezone: 'Europe/Paris' } },
      })
    ).data?.createSchedule;
    if (schedule?.__typename !== 'Schedule') throw new Error('createSchedule failed');

    const me = (
      await postGraphQL<{ me: { id: string; roles: Role[]; tenant: { id: string } } }>(graphqlUrl, '{ me { id roles tenant { id } } }', {
        token,
      })
    ).data!.me;
    const identity: Identity = { kind: 'user', userId: me.id, tenantId: me.tenant.id, roles: me.roles };
    context = { identity, requestId: randomUUID() };
    Object.assign(ids, { user: me.id, workflow: created.id, execution: run.id, schedule: schedule.id });

    const supergraphSdl = await readFile(DEFAULT_SUPERGRAPH_PATH, 'utf8');
    const config: GatewayConfig = {
      supergraphSdl,
      buildService: ({ name }) => new SubgraphDataSource(stack.subgraphs[name]!.graphqlUrl, name, stack.authConfig.subgraph.internalSecret),
    };
    // Stock refuses the authorization directives' features; the owner asking here is refused nothing by them anyway.
    stock = new ApolloServer<GatewayContext>({ gateway: new ApolloGateway({ ...config, supergraphSdl: asStockServes(supergraphSdl) }) });
    ours = new ApolloServer<GatewayContext>({ gateway: new FastGateway(config) });
    await Promise.all([stock.start(), ours.start()]);
  });

  afterAll(async () => {
    await Promise.all([stock?.stop(), ours?.stop()]);
    await stack?.close();
  });

  const answer = async (server: ApolloServer<GatewayContext>, query: DocumentNode, variables: Record<string, unknown>) => {
    const response = await server.executeOperation({ query, variables }, { contextValue: context });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    return JSON.stringify(response.body.singleResult);
  };

  const cases: [string, DocumentNode, () => Record<string, unknown>][] = [
    ['Me', MeDocument, () => ({})],
    ['UserById', UserByIdDocument, () => ({ id: ids.user })],
    ['UserById, for no one', UserByIdDocument, () => ({ id: randomUUID() })],
    ['MyNotifications', MyNotificationsDocument, () => ({})],
    ['WorkflowSchedules', WorkflowSchedulesDocument, () => ({ id: ids.workflow })],
    ['ScheduleDetails', ScheduleDetailsDocument, () => ({ id: ids.schedule })],
    ['ExecutionDetails', ExecutionDetailsDocument, () => ({ id: ids.execution })],
    ['ExecutionDetails, with a malformed id', ExecutionDetailsDocument, () => ({ id: 'not-an-id' })],
    ['WorkflowList', WorkflowListDocument, () => ({ first: 10 })],
    ['WorkflowList, with a page size out of bounds', WorkflowListDocument, () => ({ first: 1000 })],
    ['MyWorkflows', MyWorkflowsDocument, () => ({})],
  ];

  it.each(cases)('for %s', async (_name, query, variables) => {
    const expected = await answer(stock, query, variables());
    expect(expected).toContain('"data"');
    expect(await answer(ours, query, variables())).toBe(expected);
  });
});
