import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createDeferred, TcpProxy, postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, RunWorkflowDocument, SendNotificationDocument } from '@nexusflow/web-client';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { RecordingServer } from '../support/recording-server.ts';
import { startStack, type Stack } from '../support/stack.ts';

const EXECUTION_UPDATED = `subscription Live($id: ID!) { executionUpdated(id: $id) { event revision status } }`;
const WORKFLOW_EXECUTIONS = `subscription Runs($workflowId: ID!) { workflowExecutions(workflowId: $workflowId) { event revision status execution { id } } }`;
const NOTIFICATION_RECEIVED = 'subscription { notificationReceived { id title } }';
const EXECUTION = 'query Execution($id: ID!) { execution(id: $id) { status revision } }';

type Update = { event: string; revision: number; status: string };
type RunUpdate = Update & { execution: { id: string } };
type Received = { id: string; title: string };

/** The messages of one subscription through the gateway, and a way to wait for one. */
interface Feed<T> {
  items: T[];
  /** Resolves with the first item (already received or still to come) that matches, and when it was received. */
  until(match: (item: T) => boolean): Promise<{ item: T; at: number }>;
}

/** What a subscriber must have seen of an execution: every change, or a snapshot covering the ones it did not. */
function expectEveryChangeOrASnapshotCoveringIt(updates: Update[]): void {
  for (let index = 1; index < updates.length; index += 1) {
    const [previous, update] = [updates[index - 1]!, updates[index]!];
    expect(update.revision, `update ${index} goes back`).toBeGreaterThan(previous.revision);
    if (update.revision > previous.revision + 1)
      expect(update.event, `revisions ${previous.revision + 1}–${update.revision - 1} are covered`).toBe('workflow.execution.snapshot');
  }
}

describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'live updates across a Redis outage (real PostgreSQL, Redis and RabbitMQ)',
  () => {
    const redisUrl = testEnvironment.redisUrl!;
    let redis: TcpProxy;
    let stack: Stack;
    let outside: RecordingServer;
    let admin: Redis;
    const clients: Client[] = [];
    /** Close events of every client's socket to the gateway: a Redis outage must close none. */
    const closes: unknown[] = [];

    beforeAll(async () => {
      redis = await TcpProxy.start(redisUrl);
      outside = await new RecordingServer().start();
      // Every subgraph and the gateway reach Redis through the proxy, as they would a Redis that restarts.
      stack = await startStack('postgres', 'live_redis', { redisUrl: redis.urlFor(redisUrl) });
      admin = new Redis(redisUrl);
    });

    afterEach(async () => {
      redis.bringUp();
    });

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      await stack?.close();
      await outside?.close();
      await redis?.close();
      admin?.disconnect();
    });

    function subscribe<T>(
      user: SignedUp,
      query: string,
      variables: Record<string, unknown>,
      pick: (data: Record<string, T>) => T,
    ): Feed<T> {
      const client = createClient({
        url: stack.gateway.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${user.token}` },
        retryAttempts: 0,
        on: { closed: (event) => closes.push(event) },
      });
      clients.push(client);
      const items: T[] = [];
      const waiters: { match: (item: T) => boolean; resolve: (found: { item: T; at: number }) => void }[] = [];
      client.subscribe<Record<string, T>>(
        { query, variables },
        {
          next: ({ data, errors }) => {
            if (errors) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
            const item = pick(data!);
            items.push(item);
            for (const waiter of [...waiters]) {
              if (!waiter.match(item)) continue;
              waiters.splice(waiters.indexOf(waiter), 1);
              waiter.resolve({ item, at: Date.now() });
            }
          },
          error: (error) => {
            throw new Error(`subscription failed: ${JSON.stringify(error)}`);
          },
          complete: () => undefined,
        },
      );
      return {
        items,
        until(match) {
          const seen = items.find(match);
          if (seen) return Promise.resolve({ item: seen, at: Date.now() });
          const found = createDeferred<{ item: T; at: number }>();
          waiters.push({ match, resolve: found.resolve });
          return found.promise;
        },
      };
    }

    const watchExecution = (user: SignedUp, id: string) =>
      subscribe<Update>(user, EXECUTION_UPDATED, { id }, (data) => data.executionUpdated!);

    /** A workflow whose HTTP steps wait at the `held` paths until the test releases them, then a last step. */
    async function heldWorkflow(user: SignedUp, held: string[]): Promise<string> {
      for (const path of held) outside.hold(path);
      const steps = [
        ...held.map((path, index) => ({ key: `call-${index + 1}`, type: 'http', config: { url: `${outside.url}${path}` } })),
        { key: 'done', type: 'transform', config: { template: { ok: true } } },
      ];
      const created = (
        await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
          token: user.token,
          variables: { input: { name: 'Across a Redis outage', steps } },
        })
      ).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
      return created.id;
    }

    async function run(user: SignedUp, workflowId: string): Promise<string> {
      const started = (
        await postGraphQL(stack.gateway.graphqlUrl, RunWorkflowDocument, { token: user.token, variables: { id: workflowId } })
      ).data?.runWorkflow;
      if (started?.__typename !== 'Execution') throw new Error(`runWorkflow failed: ${JSON.stringify(started)}`);
      return started.id;
    }

    /** The execution as stored, read through the gateway (which does not need Redis to answer). */
    async function stored(user: SignedUp, id: string): Promise<{ status: string; revision: number }> {
      const response = await postGraphQL<{ execution: { status: string; revision: number } }>(stack.gateway.graphqlUrl, EXECUTION, {
        token: user.token,
        variables: { id },
      });
      return response.data!.execution;
    }

    /** Waits until a subgraph subscribed `topic` in Redis: a subscription without a first message is then in place. */
    async function untilSubscribedInRedis(topic: string): Promise<void> {
      const channel = `${stack.workflowsConfig.subgraph.redisNamespace}:${topic}`;
      await expect
        .poll(async () => ((await admin.pubsub('NUMSUB', channel)) as [string, number])[1], { timeout: 10_000, interval: 20 })
        .toBe(1);
    }

    it('keeps the Redis channels of a deployment under its namespace', async () => {
      const user = await signUp(stack.gateway.graphqlUrl, 'live-namespace');
      const workflowId = await heldWorkflow(user, ['/namespace-1']);
      const executionId = await run(user, workflowId);
      await outside.arrival('/namespace-1');
      await watchExecution(user, executionId).until(() => true);

      const namespace = stack.workflowsConfig.subgraph.redisNamespace;
      expect(namespace).toMatch(/^nf-test-live-redis-/);
      const channel = `workflows:execution:${executionId}`;
      expect(await admin.pubsub('NUMSUB', `${namespace}:${channel}`, `nexusflow:${channel}`)).toEqual([
        `${namespace}:${channel}`,
        1,
        `nexusflow:${channel}`,
        0,
      ]);
      outside.release('/namespace-1');
    });

    it('shows a subscriber of a run every change, or a snapshot covering those made while Redis was down, within 10 s of its return', async () => {
      const user = await signUp(stack.gateway.graphqlUrl, 'live-outage');
      const workflowId = await heldWorkflow(user, ['/mid-run-1', '/mid-run-2', '/mid-run-3']);
      const executionId = await run(user, workflowId);
      await outside.arrival('/mid-run-1');
      const feed = watchExecution(user, executionId);
      await feed.until((update) => update.event === 'workflow.execution.snapshot');
      outside.release('/mid-run-1');
      await feed.until((update) => update.event === 'workflow.step.completed');
      await outside.arrival('/mid-run-2');

      redis.takeDown();
      outside.release('/mid-run-2');
      await outside.arrival('/mid-run-3');
      const duringOutage = await stored(user, executionId);
      const restoredAt = Date.now();
      redis.bringUp();

      const { item: covering, at } = await feed.until((update) => update.revision >= duringOutage.revision);
      expect(covering.event).toBe('workflow.execution.snapshot');
      expect(at - restoredAt).toBeLessThan(10_000);
      outside.release('/mid-run-3');
      await feed.until((update) => update.status === 'COMPLETED');
      expectEveryChangeOrASnapshotCoveringIt(feed.items);
      expect(feed.items.at(-1)).toMatchObject({ status: 'COMPLETED', revision: (await stored(user, executionId)).revision });
      expect(closes).toEqual([]);
    });

    it('shows a run that finished while Redis was down as finished, to subscribers of the run and of the workflow, within 10 s of its return', async () => {
      const user = await signUp(stack.gateway.graphqlUrl, 'live-finished');
      const workflowId = await heldWorkflow(user, ['/finish-1']);
      const runs = subscribe<RunUpdate>(user, WORKFLOW_EXECUTIONS, { workflowId }, (data) => data.workflowExecutions!);
      await untilSubscribedInRedis(`workflows:workflow-executions:${workflowId}`);
      const firstRun = await run(user, workflowId);
      await runs.until((update) => update.execution.id === firstRun && update.event === 'workflow.execution.started');
      outside.release('/finish-1');
      await runs.until((update) => update.execution.id === firstRun && update.status === 'COMPLETED');
      outside.hold('/finish-1');
      const executionId = await run(user, workflowId);
      await outside.arrival('/finish-1');
      const feed = watchExecution(user, executionId);
      await feed.until((update) => update.status === 'RUNNING');
      await runs.until((update) => update.execution.id === executionId && update.event === 'workflow.execution.started');

      redis.takeDown();
      outside.release('/finish-1');
      await expect.poll(async () => (await stored(user, executionId)).status, { timeout: 15_000, interval: 50 }).toBe('COMPLETED');
      const restoredAt = Date.now();
      redis.bringUp();

      const [ofRun, ofWorkflow] = await Promise.all([
        feed.until((update) => update.status === 'COMPLETED'),
        runs.until((update) => update.execution.id === executionId && update.status === 'COMPLETED'),
      ]);
      expect(ofRun.at - restoredAt).toBeLessThan(10_000);
      expect(ofWorkflow.at - restoredAt).toBeLessThan(10_000);
      expect(ofRun.item).toMatchObject({ event: 'workflow.execution.snapshot', revision: (await stored(user, executionId)).revision });
      expect(ofWorkflow.item.event).toBe('workflow.execution.snapshot');
      expectEveryChangeOrASnapshotCoveringIt(feed.items);
      // Only the run whose end was lost is sent again.
      expect(runs.items.map((update) => [update.execution.id, update.event])).toEqual([
        [firstRun, 'workflow.execution.started'],
        [firstRun, 'workflow.execution.completed'],
        [executionId, 'workflow.execution.started'],
        [executionId, 'workflow.execution.snapshot'],
      ]);
      expect(closes).toEqual([]);
    });

    it('sends a subscriber the notifications created while Redis was down within 10 s of its return, and none twice', async () => {
      const user = await signUp(stack.gateway.graphqlUrl, 'live-inbox');
      const inbox = subscribe<Received>(user, NOTIFICATION_RECEIVED, {}, (data) => data.notificationReceived!);
      const notify = async (title: string) => {
        const sent = await postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
          token: user.token,
          variables: { input: { userId: user.userId, eventType: 'release.published', variables: { title, body: title } } },
        });
        expect(sent.errors).toBeUndefined();
        return sent.data!.sendNotification.id;
      };
      await untilSubscribedInRedis(`notifications:user:${user.userId}`);
      const before = await notify('Before');
      await inbox.until((received) => received.id === before);

      redis.takeDown();
      const during = await notify('During');
      const restoredAt = Date.now();
      redis.bringUp();

      const { at } = await inbox.until((received) => received.id === during);
      expect(at - restoredAt).toBeLessThan(10_000);
      const after = await notify('After');
      await inbox.until((received) => received.id === after);
      expect(inbox.items.map((received) => received.title)).toEqual(['Before', 'During', 'After']);
      expect(closes).toEqual([]);
    });
  },
);
