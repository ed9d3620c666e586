import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, Role, signIdentity, type Identity } from '@nexusflow/kit';
import { createDeferred, postGraphQL } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, RegisterDocument, RunWorkflowDocument } from '@nexusflow/web-client';
import { RecordingServer } from '../support/recording-server.ts';
import { collectExecutionUpdates } from '../support/live-runs.ts';
import { startStack, type Stack } from '../support/stack.ts';

const EXECUTION_UPDATED = `subscription ($id: ID!) {
  executionUpdated(id: $id) { event revision status stepKey execution { id status currentStep } }
}`;

type Update = { event: string; revision: number; status: string; stepKey: string | null; execution: { id: string; status: string } };

/**
 * The workflows subgraph's own subscriptions over graphql-ws, as the gateway will consume them: the
 * caller proves its identity with the signature the gateway makes, in connection_init.
 */
describe('workflow subscriptions on the workflows subgraph', () => {
  let stack: Stack;
  let outside: RecordingServer;
  let owner: { token: string; identity: Identity };
  const clients: Client[] = [];

  const connect = (connectionParams: Record<string, unknown>, onClose?: (event: { code: number }) => void) => {
    const client = createClient({
      url: stack.workflows.graphqlUrl.replace('http://', 'ws://'),
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      lazy: false,
      // Refusals are what some tests are about; they observe them through `closed`, not the console.
      onNonLazyError: () => undefined,
      on: onClose ? { closed: (event) => onClose(event as { code: number }) } : {},
    });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    outside = await new RecordingServer().start();
    stack = await startStack('embedded', 'subgraph_subscriptions');
    const session = (
      await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
        variables: {
          input: { email: `live-${randomUUID()}@example.com`, password: 'correct horse battery', name: 'Live', tenantName: 'Live Co' },
        },
      })
    ).data?.register;
    if (session?.__typename !== 'AuthSession') throw new Error('registration failed');
    owner = {
      token: session.accessToken,
      identity: { kind: 'user', userId: session.user.id, tenantId: session.user.tenant.id, roles: [Role.Owner] },
    };
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await stack?.close();
    await outside?.close();
  });

  async function startHeldRun(path: string) {
    outside.hold(path);
    const created = (
      await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
        token: owner.token,
        variables: {
          input: {
            name: 'Live',
            steps: [
              { key: 'wait', type: 'http', config: { url: `${outside.url}${path}` } },
              { key: 'shape', type: 'transform', config: { template: { done: true } } },
            ],
          },
        },
      })
    ).data?.createWorkflow;
    if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
    const run = (await postGraphQL(stack.gateway.graphqlUrl, RunWorkflowDocument, { token: owner.token, variables: { id: created.id } }))
      .data?.runWorkflow;
    if (run?.__typename !== 'Execution') throw new Error('runWorkflow failed');
    await outside.arrival(path);
    return run.id;
  }

  const collect = (client: Client, executionId: string) => collectExecutionUpdates<Update>(client, EXECUTION_UPDATED, executionId);

  it('sends the execution as it is, then every change in order, each with the execution at that moment', async () => {
    const executionId = await startHeldRun('/live-hold');
    const stream = collect(connect(signIdentity(owner.identity, stack.workflowsConfig.subgraph.internalSecret)), executionId);
    await stream.first;
    outside.release('/live-hold');
    await stream.completed;

    expect(stream.updates.map((u) => [u.event, u.stepKey, u.status])).toEqual([
      ['workflow.execution.snapshot', null, 'RUNNING'],
      ['workflow.step.completed', 'wait', 'RUNNING'],
      ['workflow.step.completed', 'shape', 'RUNNING'],
      ['workflow.execution.completed', null, 'COMPLETED'],
    ]);
    const revisions = stream.updates.map((u) => u.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(stream.updates.at(-1)?.execution).toEqual({ id: executionId, status: 'COMPLETED', currentStep: null });
  });

  it('refuses an execution of another tenant as not found', async () => {
    const executionId = await startHeldRun('/live-other');
    const stranger: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] };
    const stream = collect(connect(signIdentity(stranger, stack.workflowsConfig.subgraph.internalSecret)), executionId);
    expect(await stream.failed).toMatchObject([{ message: `No execution ${executionId}`, extensions: { code: 'NOT_FOUND' } }]);
    outside.release('/live-other');
  });

  it('closes a connection whose identity is missing or forged with 4403', async () => {
    for (const params of [{}, signIdentity(owner.identity, 'a secret the gateway does not use, long enough')]) {
      const closed = createDeferred<number>();
      connect(params, (event) => closed.resolve(event.code));
      expect(await closed.promise).toBe(CloseCode.Forbidden);
    }
  });
});
