import { randomBytes, randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, type Environment, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTestDatabase, TcpProxy, postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, RunWorkflowDocument, type StepInput } from '@nexusflow/web-client';
import type { WorkflowServices } from '../../subgraphs/nexusflow/workflows/src/context.ts';
import { StepRun } from '../../subgraphs/nexusflow/workflows/src/entities/step-run.entity.ts';
import { subgraph as workflows } from '../../subgraphs/nexusflow/workflows/src/subgraph.ts';
import { launchScript, type LaunchedProcess } from '../support/processes.ts';
import { RecordingServer } from '../support/recording-server.ts';

/** How soon after its dependency's return the platform must have carried every interrupted run on. */
const RECOVERY_BOUND_MS = 10_000;

const EXECUTION_ATTEMPTS = `query ExecutionAttempts($id: ID!) {
  execution(id: $id) { status stepRuns { stepKey attempt status error } }
}`;

type Attempt = { stepKey: string; attempt: number; status: string; error: string | null };
type ExecutionAttempts = { status: string; stepRuns: Attempt[] };

const http = (key: string, url: string, extra: Partial<StepInput> = {}): StepInput => ({
  key,
  type: 'http',
  config: { method: 'POST', url },
  ...extra,
});

/**
 * The workflows service with its PostgreSQL and its RabbitMQ each behind an TcpProxy, taken away and given back
 * while runs are in flight: the API in this process, the step workers in a process of their own, as in production.
 */
describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'workflows through outages of their database and broker (real PostgreSQL, Redis and RabbitMQ)',
  () => {
    const identity: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] };
    const cleanups: (() => Promise<void>)[] = [];
    const workers: LaunchedProcess[] = [];
    let env: Environment;
    let database: TcpProxy;
    let broker: TcpProxy;
    let api: RunningSubgraph<WorkflowServices>;
    let outside: RecordingServer;

    /** Step workers, timers and a sweeper in a process of their own, logging what they do. */
    async function startWorkers(extra: Environment = {}): Promise<LaunchedProcess> {
      const worker = launchScript('subgraphs/nexusflow/workflows/src/worker-main.ts', [], {
        ...process.env,
        ...env,
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        ...extra,
      });
      workers.push(worker);
      await worker.waitForLine(/worker ready/);
      return worker;
    }

    const ask = <T, V>(document: TypedDocumentNode<T, V> | string, variables: V) =>
      postGraphQL<T, V>(api.graphqlUrl, document, { variables, headers: signIdentity(identity, api.config.internalSecret) });

    async function createWorkflow(steps: StepInput[]): Promise<string> {
      const created = (await ask(CreateWorkflowDocument, { input: { name: `Faults ${randomUUID().slice(0, 8)}`, steps } })).data
        ?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
      return created.id;
    }

    async function run(workflowId: string): Promise<string> {
      const started = (await ask(RunWorkflowDocument, { id: workflowId })).data?.runWorkflow;
      if (started?.__typename !== 'Execution') throw new Error(`runWorkflow failed: ${JSON.stringify(started)}`);
      return started.id;
    }

    async function attempts(executionId: string): Promise<ExecutionAttempts> {
      const execution = (await ask<{ execution: ExecutionAttempts | null }, { id: string }>(EXECUTION_ATTEMPTS, { id: executionId })).data
        ?.execution;
      if (!execution) throw new Error(`no execution ${executionId}`);
      return execution;
    }

    /** Resolves with how long after `since` every execution was COMPLETED, polling the API. */
    async function allCompleted(executionIds: string[], since: number): Promise<number> {
      await expect
        .poll(
          async () =>
            (await Promise.all(executionIds.map(async (id) => (await attempts(id).catch(() => undefined))?.status))).every(
              (status) => status === 'COMPLETED',
            ),
          {
            timeout: RECOVERY_BOUND_MS + 5000,
            interval: 50,
          },
        )
        .toBe(true);
      return Date.now() - since;
    }

    beforeAll(async () => {
      outside = await new RecordingServer().start();
      cleanups.push(() => outside.close());
      const created = await createTestDatabase(testEnvironment.postgresUrl!, 'workflow_faults');
      cleanups.push(created.drop);
      database = await TcpProxy.start(testEnvironment.postgresUrl);
      broker = await TcpProxy.start(testEnvironment.amqpUrl);
      cleanups.push(
        () => database.close(),
        () => broker.close(),
      );
      env = {
        PORT: '0',
        LOG_LEVEL: 'silent',
        NODE_ENV: 'test',
        ALLOW_PRIVATE_NETWORK_STEPS: 'true',
        OUTBOX_POLL_INTERVAL_MS: '50',
        DATABASE_URL: database.urlFor(created.url),
        AMQP_URL: broker.urlFor(testEnvironment.amqpUrl!),
        REDIS_URL: testEnvironment.redisUrl,
        AMQP_NAMESPACE: `nf-test-faults-${randomBytes(4).toString('hex')}`,
      };
      // The API runs no steps; and its sweeper looks for stalled runs far too rarely to be what recovers them here.
      api = await workflows.start({ ...env, RUN_WORKER: 'false' });
    });

    afterEach(async () => {
      database.bringUp();
      broker.bringUp();
      for (const worker of workers.splice(0)) await worker.stop('SIGTERM');
    });

    afterAll(async () => {
      for (const worker of workers.splice(0)) await worker.stop('SIGKILL');
      await api?.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it('answers runWorkflow at once while RabbitMQ is down, and runs each step once within seconds of its return', async () => {
      await startWorkers();
      const workflowId = await createWorkflow([http('one', `${outside.url}/broker-1`), http('two', `${outside.url}/broker-2`)]);
      broker.takeDown();

      const executionIds: string[] = [];
      for (let count = 0; count < 3; count++) {
        const askedAt = performance.now();
        executionIds.push(await run(workflowId));
        const answeredInMs = performance.now() - askedAt;
        expect(answeredInMs, `runWorkflow answered in ${Math.round(answeredInMs)} ms with the broker down`).toBeLessThan(1000);
      }
      // Recorded, and due: nothing can run them before the broker is back.
      for (const executionId of executionIds) expect(await attempts(executionId)).toEqual({ status: 'RUNNING', stepRuns: [] });
      expect(outside.callsTo('/broker-1')).toEqual([]);

      broker.bringUp();
      const recoveredInMs = await allCompleted(executionIds, Date.now());
      expect(recoveredInMs, `completed ${recoveredInMs} ms after the broker came back`).toBeLessThan(RECOVERY_BOUND_MS);

      for (const path of ['/broker-1', '/broker-2']) {
        const step = path === '/broker-1' ? 'one' : 'two';
        expect(
          outside
            .callsTo(path)
            .map((call) => call.idempotencyKey)
            .sort(),
        ).toEqual(executionIds.map((id) => `${id}:${step}`).sort());
      }
      for (const executionId of executionIds) {
        expect((await attempts(executionId)).stepRuns.map((run) => [run.stepKey, run.attempt, run.status])).toEqual([
          ['one', 1, 'COMPLETED'],
          ['two', 1, 'COMPLETED'],
        ]);
      }
    }, 60_000);

    it('records the outcome of an HTTP step that ended while PostgreSQL was down once it is back, without calling again', async () => {
      const worker = await startWorkers();
      outside.hold('/database-hold');
      const workflowId = await createWorkflow([
        http('slow', `${outside.url}/database-hold`),
        http('after', `${outside.url}/database-after`),
      ]);
      const executionId = await run(workflowId);
      await outside.arrival('/database-hold');

      database.takeDown();
      outside.release('/database-hold');
      // The call answered; its outcome cannot be recorded, and is tried again rather than given up.
      await worker.waitForLine(/could not record a step outcome; trying again/);
      database.bringUp();
      const recoveredInMs = await allCompleted([executionId], Date.now());
      expect(recoveredInMs, `completed ${recoveredInMs} ms after PostgreSQL came back`).toBeLessThan(RECOVERY_BOUND_MS);

      expect(outside.callsTo('/database-hold').map((call) => call.idempotencyKey)).toEqual([`${executionId}:slow`]);
      expect(outside.callsTo('/database-after')).toHaveLength(1);
      expect((await attempts(executionId)).stepRuns.map((run) => [run.stepKey, run.attempt, run.status])).toEqual([
        ['slow', 1, 'COMPLETED'],
        ['after', 1, 'COMPLETED'],
      ]);
    }, 60_000);

    it('runs the step it claimed with the one before at once, when the answer to that settling statement was lost', async () => {
      await startWorkers();
      outside.hold('/lost-hold');
      const workflowId = await createWorkflow([http('first', `${outside.url}/lost-hold`), http('second', `${outside.url}/lost-after`)]);
      const executionId = await run(workflowId);
      await outside.arrival('/lost-hold');

      // The statement that settles the first step and claims the second commits; its answer never reaches the worker.
      const lost = database.loseReplyTo('"moved" as (');
      outside.release('/lost-hold');
      await lost;
      const recoveredInMs = await allCompleted([executionId], Date.now());

      // Not after the second step's lease (its 30 s timeout and 5 s margin), and not as a takeover of its own attempt.
      expect(recoveredInMs, `completed ${recoveredInMs} ms after the answer was lost`).toBeLessThan(RECOVERY_BOUND_MS);
      expect(outside.callsTo('/lost-hold')).toHaveLength(1);
      expect(outside.callsTo('/lost-after')).toHaveLength(1);
      expect((await attempts(executionId)).stepRuns.map((run) => [run.stepKey, run.attempt, run.status])).toEqual([
        ['first', 1, 'COMPLETED'],
        ['second', 1, 'COMPLETED'],
      ]);
    }, 60_000);

    it('runs a step again, as a new attempt, when its worker dies with an outcome PostgreSQL was down to record', async () => {
      // A lease of 1 s + 200 ms, over before PostgreSQL is back.
      const lease = { STEP_LEASE_MARGIN_MS: '200' };
      const byId = {
        'faults-a': await startWorkers({ ...lease, WORKER_ID: 'faults-a' }),
        'faults-b': await startWorkers({ ...lease, WORKER_ID: 'faults-b' }),
      };
      outside.hold('/crash-hold');
      const workflowId = await createWorkflow([http('slow', `${outside.url}/crash-hold`, { timeoutMs: 1000 })]);
      const executionId = await run(workflowId);
      await outside.arrival('/crash-hold');
      const held = await api.database.fork().findOneOrFail(StepRun, { executionId, stepKey: 'slow' });
      const holder = byId[held.leaseOwner!.split('/')[0] as keyof typeof byId];

      database.takeDown();
      outside.release('/crash-hold');
      await holder.waitForLine(/could not record a step outcome; trying again/);
      await holder.stop('SIGKILL');
      await expect.poll(() => Date.now(), { interval: 50, timeout: 5000 }).toBeGreaterThan(held.leaseUntil.getTime());
      database.bringUp();
      const recoveredInMs = await allCompleted([executionId], Date.now());
      expect(recoveredInMs, `completed ${recoveredInMs} ms after PostgreSQL came back`).toBeLessThan(RECOVERY_BOUND_MS);

      // Its call may have had its effect, or not: the survivor calls again, and both calls are on record, under one key.
      expect(outside.callsTo('/crash-hold').map((call) => call.idempotencyKey)).toEqual([`${executionId}:slow`, `${executionId}:slow`]);
      expect((await attempts(executionId)).stepRuns).toEqual([
        { stepKey: 'slow', attempt: 1, status: 'ABANDONED', error: expect.stringMatching(/^Abandoned: .*attempt 2 took over/) },
        { stepKey: 'slow', attempt: 2, status: 'COMPLETED', error: null },
      ]);
    }, 60_000);
  },
);
