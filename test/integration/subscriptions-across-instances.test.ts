import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { RegisterDocument } from '@nexusflow/web-client';
import { launchScript, listeningUrl, type LaunchedProcess } from '../support/processes.ts';
import { RecordingServer } from '../support/recording-server.ts';
import { collectExecutionUpdates, startHeldRun } from '../support/live-runs.ts';
import { routesFor } from '../support/services.ts';
import { startStack, type Stack } from '../support/stack.ts';

const EXECUTION_UPDATED = `subscription Live($id: ID!) {
  executionUpdated(id: $id) { event status execution { id workflow { owner { email } } } }
}`;

type Update = { event: string; status: string; execution: { id: string; workflow: { owner: { email: string } } } };

describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'subscriptions across instances (real PostgreSQL, Redis and RabbitMQ)',
  () => {
    let stack: Stack;
    let outside: RecordingServer;
    let otherGatewayUrl: string;
    const processes: LaunchedProcess[] = [];
    const clients: Client[] = [];

    async function register(tenantName: string) {
      const email = `multi-${randomUUID()}@example.com`;
      const session = (
        await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
          variables: { input: { email, password: 'correct horse battery', name: 'Multi', tenantName } },
        })
      ).data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error('registration failed');
      return { token: session.accessToken, email };
    }

    beforeAll(async () => {
      outside = await new RecordingServer().start();
      stack = await startStack('postgres', 'multi_instance');
      // A second workflows process and a second gateway process routed to it, sharing the databases,
      // Redis and RabbitMQ of the first ones.
      // It runs no step workers: every step runs in the first instance, so updates must cross over Redis.
      const workflows = launchScript('subgraphs/nexusflow/workflows/src/main.ts', [], {
        ...process.env,
        ...stack.workflowsEnv,
        PORT: '0',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        RUN_WORKER: 'false',
      });
      processes.push(workflows);
      const otherWorkflowsUrl = await listeningUrl(workflows, 'subgraph ready');
      const gateway = launchScript('gateway/src/main.ts', [], {
        ...process.env,
        PORT: '0',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        REDIS_URL: testEnvironment.redisUrl,
        ...routesFor('nexusflow', stack.subgraphs),
        SUBGRAPH_WORKFLOWS_URL: otherWorkflowsUrl,
      });
      processes.push(gateway);
      otherGatewayUrl = await listeningUrl(gateway, 'gateway ready');
    });

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      for (const child of processes) await child.stop('SIGTERM');
      await stack?.close();
      await outside?.close();
    });

    const heldRun = (token: string, path: string) =>
      startHeldRun({ graphqlUrl: stack.gateway.graphqlUrl, token: token, outside, path, name: 'Shared' });

    function subscribe(token: string, executionId: string) {
      const client = createClient({
        url: otherGatewayUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        retryAttempts: 0,
      });
      clients.push(client);
      return collectExecutionUpdates<Update>(client, EXECUTION_UPDATED, executionId);
    }

    it("delivers changes made through one gateway and workflows instance to a subscriber of the others, and no other tenant's", async () => {
      const alice = await register('Alpha');
      const bob = await register('Beta');
      const alicesRun = await heldRun(alice.token, '/multi-alice');
      const bobsRun = await heldRun(bob.token, '/multi-bob');

      const watcher = subscribe(alice.token, alicesRun);
      const neighbour = subscribe(bob.token, bobsRun);
      const intruder = subscribe(bob.token, alicesRun);
      expect(await intruder.failed).toMatchObject([{ extensions: { code: 'NOT_FOUND' } }]);
      await Promise.all([watcher.first, neighbour.first]);

      outside.release('/multi-alice');
      await watcher.completed;
      expect(watcher.updates.map((u) => u.event)).toEqual([
        'workflow.execution.snapshot',
        'workflow.step.completed',
        'workflow.step.completed',
        'workflow.execution.completed',
      ]);
      expect(watcher.updates.every((u) => u.execution.id === alicesRun && u.execution.workflow.owner.email === alice.email)).toBe(true);

      outside.release('/multi-bob');
      await neighbour.completed;
      expect(neighbour.updates.every((u) => u.execution.id === bobsRun && u.execution.workflow.owner.email === bob.email)).toBe(true);
      expect(intruder.updates).toEqual([]);
    });
  },
);
