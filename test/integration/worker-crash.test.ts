import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxEvent, Role, secretOrDevelopmentDefault, signIdentity, type Environment } from '@nexusflow/kit';
import { createTempDirectory, postGraphQL, seedEmbeddedDatabase, testEnvironment, type PostOptions } from '@nexusflow/kit/testing';
import {
  CreateWorkflowDocument,
  ExecutionDetailsDocument,
  RegisterDocument,
  RunWorkflowDocument,
  type StepInput,
} from '@nexusflow/web-client';
import { StepRun } from '../../subgraphs/nexusflow/workflows/src/entities/step-run.entity.ts';
import { migrations } from '../../subgraphs/nexusflow/workflows/src/migrations/index.ts';
import { entities } from '../../subgraphs/nexusflow/workflows/src/subgraph.ts';
import { openWorkflowsDatabase } from '../../subgraphs/nexusflow/workflows/src/domain/test-database.ts';
import { launchScript, listeningUrl, type LaunchedProcess } from '../support/processes.ts';
import { outboxDrained, RecordedEvents } from '../support/recorded-events.ts';
import { RecordingServer } from '../support/recording-server.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

/** Three steps; the middle one is held by the outside server until the test lets it answer. */
const crashWorkflow = (outside: RecordingServer, prefix: string): StepInput[] => [
  { key: 'one', type: 'http', config: { method: 'POST', url: `${outside.url}/${prefix}-1` } },
  { key: 'two', type: 'http', config: { method: 'POST', url: `${outside.url}/${prefix}-hold` }, timeoutMs: 1500 },
  { key: 'three', type: 'http', config: { method: 'POST', url: `${outside.url}/${prefix}-3` } },
];

/**
 * The held call was in flight when its worker died, so the step ran again on takeover, as a new attempt: the outside
 * world got one call per attempt, all with the step's one idempotency key, which is how it applies the effect once.
 */
function expectOneCallPerAttempt(outside: RecordingServer, prefix: string, executionId: string) {
  expect(outside.callsTo(`/${prefix}-1`)).toHaveLength(1);
  expect(outside.callsTo(`/${prefix}-3`)).toHaveLength(1);
  expect(outside.callsTo(`/${prefix}-hold`).map((call) => call.idempotencyKey)).toEqual([`${executionId}:two`, `${executionId}:two`]);
}

/** The attempts recorded: the one its worker died with, abandoned, then the one that took over. */
const EXPECTED_ATTEMPTS = [
  ['one', 1, 'COMPLETED'],
  ['two', 1, 'ABANDONED'],
  ['two', 2, 'COMPLETED'],
  ['three', 1, 'COMPLETED'],
];

const EXPECTED_EVENTS = [
  'workflow.execution.started',
  'workflow.step.completed:one',
  'workflow.step.abandoned:two',
  'workflow.step.completed:two',
  'workflow.step.completed:three',
  'workflow.execution.completed',
];

/**
 * What each event was about, to compare as a set: the API process's relay and a worker's publish side by side, each
 * taking the rows the other has not locked, so events may arrive in another order than the outbox recorded them.
 */
const labelsOf = (events: { type: string; payload: Record<string, unknown> }[]) =>
  events.map(({ type, payload: { stepKey } }) => (typeof stepKey === 'string' ? `${type}:${stepKey}` : type));

describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  'a workflow worker process killed with SIGKILL (real PostgreSQL, Redis and RabbitMQ)',
  () => {
    let stack: Stack;
    let outside: RecordingServer;
    const workers: LaunchedProcess[] = [];

    const startWorker = async (env: Environment = {}) => {
      const worker = launchScript('subgraphs/nexusflow/workflows/src/worker-main.ts', [], {
        ...process.env,
        ...stack.workflowsEnv,
        PORT: '0',
        LOG_LEVEL: 'info',
        ...env,
      });
      workers.push(worker);
      await worker.waitForLine(/worker ready/);
      return worker;
    };

    beforeAll(async () => {
      outside = await new RecordingServer().start();
      // The API process runs no worker: every step runs in the worker processes this test starts and kills.
      stack = await startStack('postgres', 'worker_crash', { workflows: { RUN_WORKER: 'false', STEP_LEASE_MARGIN_MS: '200' } });
    });

    afterAll(async () => {
      for (const worker of workers) await worker.stop('SIGKILL');
      await stack?.close();
      await outside?.close();
    });

    it('runs every step exactly once when the worker dies between steps, and publishes every event once', async () => {
      const recorded = await RecordedEvents.start(stack.workflows.eventBus, ['workflow.#']);
      const email = `between-${randomUUID()}@example.com`;
      const session = (
        await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
          variables: { input: { email, password: 'correct horse battery', name: 'Crash Tester', tenantName: 'Between Co' } },
        })
      ).data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error('registration failed');
      const steps: StepInput[] = [
        { key: 'one', type: 'http', config: { method: 'POST', url: `${outside.url}/between-1` } },
        { key: 'pause', type: 'delay', config: { durationMs: 1000 } },
        { key: 'two', type: 'http', config: { method: 'POST', url: `${outside.url}/between-2` } },
      ];
      const created = (
        await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
          token: session.accessToken,
          variables: { input: { name: 'Between', steps } },
        })
      ).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
      const watch = await WorkflowWatch.start(stack.workflows.pubsub, created.id);

      const doomed = await startWorker();
      const execution = (
        await postGraphQL(stack.gateway.graphqlUrl, RunWorkflowDocument, { token: session.accessToken, variables: { id: created.id } })
      ).data?.runWorkflow;
      if (execution?.__typename !== 'Execution') throw new Error('runWorkflow failed');
      // The delay waits on its timer, stored in PostgreSQL: no step is in flight, and no message waits in the broker.
      await watch.event(execution.id, 'workflow.step.waiting', 'pause');
      // Nor an event in the outbox: one published but not yet marked so when its relay dies is published again (at
      // least once, under its id), which is the outbox's promise, not what this test is about.
      await expect.poll(() => stack.workflows.database.fork().count(OutboxEvent, { publishedAt: null })).toBe(0);
      await doomed.stop('SIGKILL');
      await startWorker();
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });
      await watch.close();

      expect(outside.callsTo('/between-1')).toHaveLength(1);
      expect(outside.callsTo('/between-2')).toHaveLength(1);
      // Everything recorded is published, then everything published has arrived: a second copy would be here by now.
      await outboxDrained(stack.workflows.database);
      await recorded.settle();
      await recorded.stop();
      const ofExecution = () => recorded.events.filter((event) => event.payload.executionId === execution.id);
      expect(labelsOf(ofExecution()).sort()).toEqual(
        [
          'workflow.execution.started',
          'workflow.step.completed:one',
          'workflow.step.waiting:pause',
          'workflow.step.completed:pause',
          'workflow.step.completed:two',
          'workflow.execution.completed',
        ].sort(),
      );
      expect(new Set(ofExecution().map((event) => event.id)).size).toBe(6);
    });

    it('completes the execution on another worker, recording the call it died in as an abandoned attempt, and publishes every event once', async () => {
      const recorded = await RecordedEvents.start(stack.workflows.eventBus, ['workflow.#']);
      const email = `crash-${randomUUID()}@example.com`;
      const session = (
        await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
          variables: { input: { email, password: 'correct horse battery', name: 'Crash Tester', tenantName: 'Crash Co' } },
        })
      ).data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error('registration failed');
      const graphql = <T, V>(document: TypedDocumentNode<T, V>, options: PostOptions<V>) =>
        postGraphQL(stack.gateway.graphqlUrl, document, { token: session.accessToken, ...options });

      outside.hold('/crash-hold');
      const created = (
        await graphql(CreateWorkflowDocument, { variables: { input: { name: 'Crash', steps: crashWorkflow(outside, 'crash') } } })
      ).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
      const watch = await WorkflowWatch.start(stack.workflows.pubsub, created.id);

      // The doomed worker alone: it runs the step that follows the first in a row with it, so it must take the first.
      for (const worker of workers.splice(0)) await worker.stop('SIGTERM');
      const doomed = await startWorker();
      const execution = (await graphql(RunWorkflowDocument, { variables: { id: created.id } })).data?.runWorkflow;
      if (execution?.__typename !== 'Execution') throw new Error('runWorkflow failed');
      await outside.arrival('/crash-hold');
      // Events reach the broker at least once: one published but not yet marked when its relay dies goes out again under
      // the same id. Once the earlier steps' events are marked, every event of the run must go out exactly once.
      await outboxDrained(stack.workflows.database);
      await doomed.stop('SIGKILL');
      outside.release('/crash-hold');

      await startWorker();
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });
      await watch.close();

      const details = (await graphql(ExecutionDetailsDocument, { variables: { id: execution.id } })).data?.execution;
      expect(details?.stepRuns.map((run) => [run.stepKey, run.attempt, run.status])).toEqual(EXPECTED_ATTEMPTS);
      expectOneCallPerAttempt(outside, 'crash', execution.id);

      await outboxDrained(stack.workflows.database);
      await recorded.settle();
      await recorded.stop();
      const ofExecution = () => recorded.events.filter((event) => event.payload.executionId === execution.id);
      expect(labelsOf(ofExecution()).sort()).toEqual([...EXPECTED_EVENTS].sort());
      expect(new Set(ofExecution().map((event) => event.id)).size).toBe(EXPECTED_EVENTS.length);
    });

    it('takes a step over as a new attempt when the lease of the worker that died with it runs out, not later', async () => {
      const email = `lease-${randomUUID()}@example.com`;
      const session = (
        await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
          variables: { input: { email, password: 'correct horse battery', name: 'Crash Tester', tenantName: 'Lease Co' } },
        })
      ).data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error('registration failed');
      const graphql = <T, V>(document: TypedDocumentNode<T, V>, options: PostOptions<V>) =>
        postGraphQL(stack.gateway.graphqlUrl, document, { token: session.accessToken, ...options });
      outside.hold('/lease-hold');
      // A lease of 3 s + 200 ms: long enough to kill its holder in, short enough to wait for.
      const steps = crashWorkflow(outside, 'lease').map((step) => (step.key === 'two' ? { ...step, timeoutMs: 3000 } : step));
      const created = (await graphql(CreateWorkflowDocument, { variables: { input: { name: 'Lease', steps } } })).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
      const watch = await WorkflowWatch.start(stack.workflows.pubsub, created.id);

      // Two live workers alone: the survivor gets the dead one's message at once, and must wait for the lease, no longer.
      for (const worker of workers.splice(0)) await worker.stop('SIGTERM');
      const byId = { 'lease-a': await startWorker({ WORKER_ID: 'lease-a' }), 'lease-b': await startWorker({ WORKER_ID: 'lease-b' }) };
      const execution = (await graphql(RunWorkflowDocument, { variables: { id: created.id } })).data?.runWorkflow;
      if (execution?.__typename !== 'Execution') throw new Error('runWorkflow failed');
      await outside.arrival('/lease-hold');
      const em = stack.workflows.database.fork();
      const first = await em.findOneOrFail(StepRun, { executionId: execution.id, stepKey: 'two', attempt: 1 });
      const holder = first.leaseOwner!.split('/')[0] as keyof typeof byId;
      await byId[holder].stop('SIGKILL');

      await expect.poll(() => outside.callsTo('/lease-hold').length, { timeout: 15_000, interval: 10 }).toBe(2);
      outside.release('/lease-hold');
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });
      await watch.close();

      const attempts = await em.fork().find(StepRun, { executionId: execution.id }, { orderBy: { startedAt: 'asc', attempt: 'asc' } });
      expect(attempts.map((run) => [run.stepKey, run.attempt, run.status])).toEqual(EXPECTED_ATTEMPTS);
      const [abandoned, takeover] = attempts.filter((run) => run.stepKey === 'two');
      expect(abandoned!.leaseUntil.getTime() - abandoned!.startedAt.getTime(), 'the lease is the step timeout and the margin').toBe(3200);
      const lateness = takeover!.startedAt.getTime() - abandoned!.leaseUntil.getTime();
      expect(lateness, `taken over ${lateness} ms after the lease ran out`).toBeGreaterThanOrEqual(0);
      expect(lateness, `taken over ${lateness} ms after the lease ran out`).toBeLessThan(1000);
      expect(abandoned!.finishedAt).toEqual(takeover!.startedAt);
      expect(abandoned!.errorMessage).toMatch(/^Abandoned: .*attempt 2 took over/);
      expectOneCallPerAttempt(outside, 'lease', execution.id);
    });
  },
);

describe('the embedded workflows service killed mid-step and started again on its data', () => {
  let outside: RecordingServer;
  let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;
  let service: LaunchedProcess | undefined;
  let url: string;
  const identity = { kind: 'user' as const, userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] };

  /** Starts the service on a port the OS picks, a new one after the crash, and points the test's calls at it. */
  const startService = async () => {
    service = launchScript('subgraphs/nexusflow/workflows/src/main.ts', [], {
      ...process.env,
      PORT: '0',
      LOG_FORMAT: 'json',
      DATA_DIR: dataDir.path,
      LOG_LEVEL: 'info',
      ALLOW_PRIVATE_NETWORK_STEPS: 'true',
      // Far beyond what the test waits: the sweeper must not be what carries the run on.
      STALL_AFTER_MS: '60000',
      SWEEP_INTERVAL_MS: '100',
      OUTBOX_POLL_INTERVAL_MS: '50',
      DATABASE_URL: '',
      AMQP_URL: '',
      REDIS_URL: '',
    });
    url = await listeningUrl(service, 'subgraph ready');
  };
  /** The subgraph alone knows no users' emails, so the web app's gateway queries do not apply here. */
  const EXECUTION_STATUS = 'query ExecutionStatus($id: ID!) { execution(id: $id) { status } }';
  const graphql = <T, V>(document: TypedDocumentNode<T, V> | string, variables: V) =>
    postGraphQL(url, document, { variables, headers: signIdentity(identity, secretOrDevelopmentDefault(undefined)) });

  beforeAll(async () => {
    outside = await new RecordingServer().start();
    dataDir = await createTempDirectory('embedded-crash');
    // The service is a process of its own, which the test runner's templates do not reach: it starts from a copy too.
    await seedEmbeddedDatabase(dataDir.path, 'workflows', { entities, migrations });
  });

  afterAll(async () => {
    await service?.stop('SIGKILL');
    await outside?.close();
    await dataDir?.remove();
  });

  it('carries the interrupted run on at once after the restart, as a new attempt of the step it died in, recording every event once', async () => {
    await startService();
    outside.hold('/embedded-hold');
    // The held step's lease outlasts the test too: only the restart itself may hand the attempt on.
    const steps = crashWorkflow(outside, 'embedded').map((step) => (step.key === 'two' ? { ...step, timeoutMs: 60_000 } : step));
    const created = (await graphql(CreateWorkflowDocument, { input: { name: 'Crash', steps } })).data?.createWorkflow;
    if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
    const execution = (await graphql(RunWorkflowDocument, { id: created.id })).data?.runWorkflow;
    if (execution?.__typename !== 'Execution') throw new Error('runWorkflow failed');

    await outside.arrival('/embedded-hold');
    await service!.stop('SIGKILL');
    outside.release('/embedded-hold');
    await startService();
    const restartedAt = Date.now();

    // The restarted service knows the attempt left running was its own predecessor's, and runs it again on start.
    await expect
      .poll(
        async () =>
          (await graphql<{ execution: { status: string } | null }, { id: string }>(EXECUTION_STATUS, { id: execution.id })).data?.execution
            ?.status,
        {
          timeout: 10_000,
          interval: 50,
        },
      )
      .toBe('COMPLETED');
    expect(Date.now() - restartedAt, 'completed long before the sweeper (60 s) or the lease (60 s) would have moved it').toBeLessThan(
      10_000,
    );
    expectOneCallPerAttempt(outside, 'embedded', execution.id);
    expect(await service!.stop('SIGTERM')).toBe(0);

    const database = await openWorkflowsDatabase(dataDir.path, 'crash-test');
    try {
      const attempts = await database
        .fork()
        .find(StepRun, { executionId: execution.id }, { orderBy: { startedAt: 'asc', attempt: 'asc' } });
      expect(attempts.map((run) => [run.stepKey, run.attempt, run.status])).toEqual(EXPECTED_ATTEMPTS);
      const recorded = await database.fork().find(OutboxEvent, {}, { orderBy: { position: 'asc' } });
      const ofExecution = recorded.filter((event) => event.payload.executionId === execution.id);
      expect(labelsOf(ofExecution)).toEqual(EXPECTED_EVENTS);
      expect(ofExecution.every((event) => event.publishedAt !== null)).toBe(true);
    } finally {
      await database.close();
    }
    // Two starts of a service process and one of its database on a busy machine, besides the ten seconds allowed above.
  }, 60_000);
});
