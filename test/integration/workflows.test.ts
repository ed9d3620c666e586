import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, type PostOptions, storageModes } from '@nexusflow/kit/testing';
import {
  CancelExecutionDocument,
  CreateWorkflowDocument,
  ExecutionDetailsDocument,
  PauseExecutionDocument,
  RegisterDocument,
  ResumeExecutionDocument,
  RetryExecutionDocument,
  RunWorkflowDocument,
  UpdateWorkflowDocument,
  WorkflowListDocument,
  type StepInput,
} from '@nexusflow/web-client';
import { RecordingServer, json } from '../support/recording-server.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { outboxDrained, RecordedEvents } from '../support/recorded-events.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

const quickRetries = (maxAttempts: number) => ({ maxAttempts, initialBackoffMs: 10, maxBackoffMs: 50 });

/** Workflows through the gateway, as the web app drives them, in each storage mode. */
describe('workflows through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let outside: RecordingServer;
    let owner: { token: string; email: string; userId: string };
    const watches: WorkflowWatch[] = [];

    const graphql = <T, V>(document: TypedDocumentNode<T, V>, options: PostOptions<V> = {}) =>
      postGraphQL(stack.gateway.graphqlUrl, document, { token: owner.token, ...options });

    async function signUp(tenantName: string) {
      const email = `owner-${randomUUID()}@example.com`;
      const response = await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
        variables: { input: { email, password: 'correct horse battery', name: 'Workflow Owner', tenantName } },
      });
      const session = response.data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error(`registration failed: ${JSON.stringify(response)}`);
      return { token: session.accessToken, email, userId: session.user.id };
    }

    async function createWorkflow(steps: StepInput[], name = `Workflow ${randomUUID().slice(0, 8)}`) {
      const response = await graphql(CreateWorkflowDocument, { variables: { input: { name, steps } } });
      const workflow = response.data?.createWorkflow;
      if (workflow?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(response)}`);
      const watch = await WorkflowWatch.start(stack.workflows.pubsub, workflow.id);
      watches.push(watch);
      return { workflow, watch };
    }

    async function run(workflowId: string, input: unknown = {}, idempotencyKey?: string) {
      const response = await graphql(RunWorkflowDocument, { variables: { id: workflowId, input, idempotencyKey } });
      const execution = response.data?.runWorkflow;
      if (execution?.__typename !== 'Execution') throw new Error(`runWorkflow failed: ${JSON.stringify(response)}`);
      return execution;
    }

    const details = async (id: string) => (await graphql(ExecutionDetailsDocument, { variables: { id } })).data?.execution;

    const http = (key: string, path: string, extra: Partial<StepInput> = {}): StepInput => ({
      key,
      type: 'http',
      config: { method: 'POST', url: `${outside.url}${path}`, body: { execution: '{{execution.id}}' } },
      ...extra,
    });

    beforeAll(async () => {
      outside = await new RecordingServer().start();
      stack = await startStack(mode, `workflows_${mode}`);
      owner = await signUp('Automations Inc');
    });

    afterEach(async () => {
      for (const watch of watches.splice(0)) await watch.close();
    });

    afterAll(async () => {
      await stack?.close();
      await outside?.close();
    });

    it('runs a workflow whose HTTP steps call a local server, to completion, with the owner resolved from the auth subgraph', async () => {
      outside.on('/orders/42', (_call, _attempt, res) => json(res, 200, { id: 42, total: 120, currency: 'EUR' }));
      const { workflow, watch } = await createWorkflow([
        { key: 'fetch', type: 'http', config: { url: `${outside.url}/orders/{{input.orderId}}` } },
        {
          key: 'shape',
          type: 'transform',
          config: { template: { order: '{{steps.fetch.output.body.id}}', amount: '{{steps.fetch.output.body.total}}' } },
        },
        {
          key: 'big',
          type: 'condition',
          config: { left: '{{steps.shape.output.amount}}', operator: 'gt', right: 100, then: 'alert', else: null },
        },
        http('alert', '/alerts'),
      ]);

      const execution = await run(workflow.id, { orderId: 42 });
      expect(execution).toMatchObject({ status: 'RUNNING', workflowVersion: 1 });
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });

      const finished = await details(execution.id);
      expect(finished).toMatchObject({
        status: 'COMPLETED',
        error: null,
        workflow: { id: workflow.id, owner: { id: owner.userId, email: owner.email } },
      });
      expect(finished?.stepRuns.map((run) => [run.stepKey, run.status])).toEqual([
        ['fetch', 'COMPLETED'],
        ['shape', 'COMPLETED'],
        ['big', 'COMPLETED'],
        ['alert', 'COMPLETED'],
      ]);
      expect(finished?.stepRuns[1]?.output).toEqual({ order: 42, amount: 120 });
      expect(outside.callsTo('/alerts')).toMatchObject([
        { method: 'POST', body: { execution: execution.id }, idempotencyKey: `${execution.id}:alert` },
      ]);
    });

    it('keeps an answer holding characters PostgreSQL refuses (NUL, a lone surrogate), replaced, and calls the server once', async () => {
      outside.on('/unstorable', (_call, _attempt, res) => json(res, 200, { name: 'a\u0000b', 'key\u0000': '\uD800' }));
      const { workflow, watch } = await createWorkflow([http('fetch', '/unstorable')]);
      const execution = await run(workflow.id);
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });
      const finished = await details(execution.id);
      expect(finished?.stepRuns[0]?.output).toMatchObject({ body: { name: 'a\uFFFDb', 'key\uFFFD': '\uFFFD' } });
      expect(outside.callsTo('/unstorable')).toHaveLength(1);
    });

    it('retries a step that fails twice and then succeeds, sending the same idempotency key each time', async () => {
      outside.flaky('/flaky', 2);
      const { workflow, watch } = await createWorkflow([http('call', '/flaky', { retry: quickRetries(3) })]);
      const execution = await run(workflow.id);
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });

      const finished = await details(execution.id);
      expect(finished?.stepRuns.map((run) => [run.attempt, run.status])).toEqual([
        [1, 'FAILED'],
        [2, 'FAILED'],
        [3, 'COMPLETED'],
      ]);
      expect(
        new Set(
          outside
            .callsTo('/flaky')
            .filter((c) => c.body && (c.body as { execution: string }).execution === execution.id)
            .map((c) => c.idempotencyKey),
        ),
      ).toEqual(new Set([`${execution.id}:call`]));
    });

    it('fails the execution when a step keeps failing, recording the error and the step', async () => {
      outside.on('/broken', (_call, _attempt, res) => json(res, 500, { error: 'database on fire' }));
      const { workflow, watch } = await createWorkflow([
        http('first', '/fine'),
        http('call', '/broken', { retry: quickRetries(2) }),
        http('never', '/never'),
      ]);
      const execution = await run(workflow.id);
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'FAILED' });

      const finished = await details(execution.id);
      expect(finished?.status).toBe('FAILED');
      expect(finished?.error).toMatchObject({ stepKey: 'call', message: expect.stringContaining('500') });
      expect(finished?.stepRuns.filter((run) => run.stepKey === 'call').map((run) => run.status)).toEqual(['FAILED', 'FAILED']);
      expect(outside.callsTo('/never')).toEqual([]);
    });

    it('aborts an attempt that outlives its timeout and counts it as a failed, retryable attempt', async () => {
      outside.hold('/hold-timeout');
      const { workflow, watch } = await createWorkflow([http('slow', '/hold-timeout', { timeoutMs: 100, retry: quickRetries(2) })]);
      const execution = await run(workflow.id);
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'FAILED' });
      outside.release('/hold-timeout');

      const finished = await details(execution.id);
      expect(finished?.stepRuns.map((run) => [run.attempt, run.status])).toEqual([
        [1, 'FAILED'],
        [2, 'FAILED'],
      ]);
      expect(finished?.error?.message).toMatch(/timed out/i);
    });

    it('holds a paused execution at the next step boundary and continues it on resume', async () => {
      outside.hold('/hold-pause');
      const { workflow, watch } = await createWorkflow([http('slow', '/hold-pause'), http('after', '/after-pause')]);
      const execution = await run(workflow.id);
      await outside.arrival('/hold-pause');

      expect((await graphql(PauseExecutionDocument, { variables: { id: execution.id } })).data?.pauseExecution).toMatchObject({
        status: 'PAUSED',
      });
      outside.release('/hold-pause');
      await watch.event(execution.id, 'workflow.step.completed', 'slow');
      expect(await details(execution.id)).toMatchObject({ status: 'PAUSED', currentStep: 'after' });
      expect(outside.callsTo('/after-pause')).toEqual([]);

      expect((await graphql(ResumeExecutionDocument, { variables: { id: execution.id } })).data?.resumeExecution).toMatchObject({
        status: 'RUNNING',
      });
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });
      expect(outside.callsTo('/after-pause')).toHaveLength(1);
    });

    it('cancels an execution: the step in flight finishes, nothing follows it', async () => {
      outside.hold('/hold-cancel');
      const { workflow, watch } = await createWorkflow([http('slow', '/hold-cancel'), http('after', '/after-cancel')]);
      const execution = await run(workflow.id);
      await outside.arrival('/hold-cancel');

      expect((await graphql(CancelExecutionDocument, { variables: { id: execution.id } })).data?.cancelExecution).toMatchObject({
        status: 'CANCELLED',
      });
      outside.release('/hold-cancel');
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'CANCELLED' });
      const resumed = await graphql(ResumeExecutionDocument, { variables: { id: execution.id } });
      expect(resumed.data?.resumeExecution).toMatchObject({
        __typename: 'InvalidExecutionTransition',
        message: 'A cancelled execution cannot resume',
      });
      expect(outside.callsTo('/after-cancel')).toEqual([]);
    });

    it('refuses to retry a cancelled execution while its step is in flight, so that the step never runs twice at once', async () => {
      outside.hold('/hold-retry');
      const { workflow } = await createWorkflow([http('slow', '/hold-retry')]);
      const execution = await run(workflow.id);
      await outside.arrival('/hold-retry');
      expect((await graphql(CancelExecutionDocument, { variables: { id: execution.id } })).data?.cancelExecution).toMatchObject({
        status: 'CANCELLED',
      });

      const early = await graphql(RetryExecutionDocument, { variables: { id: execution.id } });
      expect(early.data?.retryExecution).toMatchObject({
        __typename: 'InvalidExecutionTransition',
        message: 'A step of this execution is still running; retry it once the step has finished',
      });
      expect(outside.callsTo('/hold-retry')).toHaveLength(1);
      outside.release('/hold-retry');
      await expect.poll(async () => (await details(execution.id))?.stepRuns.map((stepRun) => stepRun.status)).toEqual(['COMPLETED']);
      expect((await graphql(RetryExecutionDocument, { variables: { id: execution.id } })).data?.retryExecution).toMatchObject({
        status: 'RUNNING',
      });
    });

    it('sweeps up an execution whose message was lost, and leaves alone one whose step a worker still holds', async () => {
      outside.hold('/hold-sweep');
      const { workflow: slow } = await createWorkflow([http('slow', '/hold-sweep')]);
      const held = await run(slow.id);
      await outside.arrival('/hold-sweep');
      // A resumed execution whose step message never reached the broker: running, and nothing on its way to a worker.
      outside.hold('/before-loss');
      const { workflow, watch } = await createWorkflow([http('first', '/before-loss'), http('second', '/after-loss')]);
      const lost = await run(workflow.id);
      await outside.arrival('/before-loss');
      await graphql(PauseExecutionDocument, { variables: { id: lost.id } });
      outside.release('/before-loss');
      await expect.poll(async () => (await details(lost.id))?.stepRuns.map((stepRun) => stepRun.status)).toEqual(['COMPLETED']);
      const connection = stack.workflows.database.fork().getConnection();
      await connection.execute(`update "executions" set "status" = 'RUNNING' where "id" = ?`, [lost.id]);
      await connection.execute(`update "executions" set "updated_at" = now() - interval '1 hour' where "id" in (?, ?)`, [held.id, lost.id]);

      const swept = await stack.workflows.services.engine.sweep(60_000);
      expect(swept).toContain(lost.id);
      expect(swept).not.toContain(held.id);
      await watch.next((update) => update.executionId === lost.id && update.status === 'COMPLETED');
      expect(outside.callsTo('/after-loss').filter((call) => (call.body as { execution: string }).execution === lost.id)).toHaveLength(1);
      outside.release('/hold-sweep');
    });

    it('retries a failed execution from the step that failed, keeping what earlier steps produced', async () => {
      let healthy = false;
      outside.on('/recovering', (_call, _attempt, res) => json(res, healthy ? 200 : 500, { healthy }));
      const { workflow, watch } = await createWorkflow([
        http('first', '/first-step'),
        http('second', '/recovering', { retry: quickRetries(1) }),
      ]);
      const execution = await run(workflow.id);
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'FAILED' });

      healthy = true;
      const retried = await graphql(RetryExecutionDocument, { variables: { id: execution.id } });
      expect(retried.data?.retryExecution).toMatchObject({ status: 'RUNNING' });
      await watch.next((u) => u.executionId === execution.id && u.status === 'COMPLETED');

      const finished = await details(execution.id);
      expect(finished?.stepRuns.map((run) => [run.stepKey, run.attempt, run.status])).toEqual([
        ['first', 1, 'COMPLETED'],
        ['second', 1, 'FAILED'],
        ['second', 2, 'COMPLETED'],
      ]);
      expect(outside.callsTo('/first-step').filter((c) => (c.body as { execution: string }).execution === execution.id)).toHaveLength(1);
    });

    it('gives the step a retried execution continues from a fresh set of attempts under its retry policy', async () => {
      outside.flaky('/three-failures', 3);
      const { workflow, watch } = await createWorkflow([http('call', '/three-failures', { retry: quickRetries(2) })]);
      const execution = await run(workflow.id);
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'FAILED' });

      const retried = await graphql(RetryExecutionDocument, { variables: { id: execution.id } });
      expect(retried.data?.retryExecution).toMatchObject({ status: 'RUNNING' });
      await watch.next((u) => u.executionId === execution.id && u.status === 'COMPLETED');

      const finished = await details(execution.id);
      // Two attempts before the retry, as the policy allows, and two more after it: the third failed and was retried.
      expect(finished?.stepRuns.map((stepRun) => [stepRun.attempt, stepRun.status])).toEqual([
        [1, 'FAILED'],
        [2, 'FAILED'],
        [3, 'FAILED'],
        [4, 'COMPLETED'],
      ]);
    });

    it('shows a delay step WAITING until its due time, then completes it and goes on', async () => {
      const { workflow, watch } = await createWorkflow([
        { key: 'pause', type: 'delay', config: { durationMs: 1500 } },
        http('after', '/after-the-pause'),
      ]);
      const execution = await run(workflow.id);
      const waiting = await watch.event(execution.id, 'workflow.step.waiting', 'pause');

      const during = await details(execution.id);
      expect(during).toMatchObject({ status: 'RUNNING', currentStep: 'pause', waitingUntil: waiting.waitingUntil });
      expect(during?.stepRuns.map((stepRun) => [stepRun.stepKey, stepRun.status, stepRun.waitingUntil])).toEqual([
        ['pause', 'WAITING', waiting.waitingUntil],
      ]);
      expect(outside.callsTo('/after-the-pause').filter((call) => (call.body as { execution: string }).execution === execution.id)).toEqual(
        [],
      );

      expect(await watch.finished(execution.id)).toMatchObject({ status: 'COMPLETED' });
      const completedPause = await watch.event(execution.id, 'workflow.step.completed', 'pause');
      expect(Date.parse(completedPause.occurredAt)).toBeGreaterThanOrEqual(Date.parse(waiting.waitingUntil!));
      const finished = await details(execution.id);
      expect(finished).toMatchObject({ waitingUntil: null, currentStep: null });
      expect(finished?.stepRuns.map((stepRun) => [stepRun.stepKey, stepRun.status])).toEqual([
        ['pause', 'COMPLETED'],
        ['after', 'COMPLETED'],
      ]);
    });

    it('runs the version an execution started with, even when the workflow changes meanwhile', async () => {
      outside.hold('/hold-version');
      const { workflow, watch } = await createWorkflow([http('slow', '/hold-version'), http('next', '/version-1')]);
      const first = await run(workflow.id);
      await outside.arrival('/hold-version');

      const updated = await graphql(UpdateWorkflowDocument, {
        variables: { id: workflow.id, input: { name: 'Version 2', steps: [http('next', '/version-2')] } },
      });
      expect(updated.data?.updateWorkflow).toMatchObject({ __typename: 'Workflow', version: 2 });
      outside.release('/hold-version');
      expect(await watch.finished(first.id)).toMatchObject({ status: 'COMPLETED', workflowVersion: 1 });

      const second = await run(workflow.id);
      expect(second.workflowVersion).toBe(2);
      expect(await watch.finished(second.id)).toMatchObject({ status: 'COMPLETED' });
      expect(outside.callsTo('/version-1')).toHaveLength(1);
      expect(outside.callsTo('/version-2')).toHaveLength(1);
    });

    it('starts one run for repeated requests with the same idempotency key', async () => {
      const { workflow, watch } = await createWorkflow([http('only', '/idempotent-run')]);
      const key = `tick-${randomUUID()}`;
      const [a, b] = await Promise.all([run(workflow.id, {}, key), run(workflow.id, {}, key)]);
      expect(a.id).toBe(b.id);
      expect(await watch.finished(a.id)).toMatchObject({ status: 'COMPLETED' });
      expect((await run(workflow.id, {}, key)).id).toBe(a.id);
    });

    it('refuses an invalid definition with every problem and where it is', async () => {
      const response = await graphql(CreateWorkflowDocument, {
        variables: {
          input: {
            name: 'Broken',
            steps: [
              { key: 'a', type: 'teleport', config: {} },
              { key: 'b', type: 'condition', config: { left: 1, operator: 'eq', right: 1, then: 'a', else: null } },
              { key: 'b', type: 'delay', config: { durationMs: -5 } },
            ],
          },
        },
      });
      const result = response.data?.createWorkflow;
      if (result?.__typename !== 'InvalidWorkflow') throw new Error(`expected InvalidWorkflow, got ${JSON.stringify(response)}`);
      expect(result.problems.map((p) => p.field).sort()).toEqual(['steps.0.config', 'steps.1.config', 'steps.2.config', 'steps.2.key']);
    });

    it('refuses, on create and on update, an HTTP step whose URL is not http or https, naming the step', async () => {
      const ftp: StepInput = {
        key: 'upload',
        type: 'http',
        config: { method: 'PUT', url: 'ftp://files.example.com/report.csv', body: 'x' },
      };
      const refusal = {
        __typename: 'InvalidWorkflow',
        problems: [{ field: 'steps.1.config', problem: 'step "upload": url: only http and https URLs are allowed, not ftp:' }],
      };

      const created = await graphql(CreateWorkflowDocument, {
        variables: { input: { name: 'Export', steps: [http('fetch', '/export'), ftp] } },
      });
      expect(created.data?.createWorkflow).toMatchObject(refusal);

      // The web app's UpdateWorkflow asks for the message only; the problems are there for clients that ask.
      const { workflow } = await createWorkflow([http('fetch', '/export')]);
      const updated = await postGraphQL<{ updateWorkflow: unknown }>(
        stack.gateway.graphqlUrl,
        'mutation ($id: ID!, $input: WorkflowInput!) { updateWorkflow(id: $id, input: $input) { __typename ... on InvalidWorkflow { problems { field problem } } } }',
        { token: owner.token, variables: { id: workflow.id, input: { name: 'Export', steps: [http('fetch', '/export'), ftp] } } },
      );
      expect(updated.data?.updateWorkflow).toEqual(refusal);
    });

    it('accepts a URL that is wholly a placeholder, and refuses its scheme when the step runs', async () => {
      const { workflow, watch } = await createWorkflow([{ key: 'call', type: 'http', config: { url: '{{input.url}}' } }]);
      const execution = await run(workflow.id, { url: 'ftp://files.example.com/report.csv' });
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'FAILED' });
      expect((await details(execution.id))?.error).toEqual({ stepKey: 'call', message: 'only http and https URLs are allowed, not ftp:' });
    });

    it("records a failed HTTP step's method, host, path, status and the start of the response body, never its query string", async () => {
      const declined = { error: { type: 'card_error', message: 'Your card was declined.' } };
      outside.on('/charges', (_call, _attempt, res) => json(res, 402, declined));
      const { workflow, watch } = await createWorkflow([
        {
          key: 'charge',
          type: 'http',
          config: { method: 'POST', url: `${outside.url}/charges?api_key={{input.apiKey}}`, body: { amount: 5 } },
        },
      ]);
      const execution = await run(workflow.id, { apiKey: 'sk_live_secret' });
      expect(await watch.finished(execution.id)).toMatchObject({ status: 'FAILED' });

      const expected = `POST ${outside.url}/charges responded with status 402: ${JSON.stringify(declined)}`;
      const finished = await details(execution.id);
      expect(finished?.stepRuns.map((stepRun) => stepRun.error)).toEqual([expected]);
      expect(finished?.error).toEqual({ stepKey: 'charge', message: expected });
    });

    it('keeps tenants apart: another tenant sees neither the workflow nor its executions', async () => {
      const { workflow, watch } = await createWorkflow([http('only', '/private')]);
      const execution = await run(workflow.id);
      await watch.finished(execution.id);
      const stranger = await signUp('Other Corp');
      const seen = await postGraphQL(stack.gateway.graphqlUrl, ExecutionDetailsDocument, {
        token: stranger.token,
        variables: { id: execution.id },
      });
      expect(seen.data).toEqual({ execution: null });
      const run2 = await postGraphQL(stack.gateway.graphqlUrl, RunWorkflowDocument, {
        token: stranger.token,
        variables: { id: workflow.id },
      });
      expect(run2.data?.runWorkflow).toMatchObject({ __typename: 'WorkflowNotFound' });
    });

    it('pages through workflows with cursors, newest first', async () => {
      const tenant = await signUp('Paging Ltd');
      const names = ['first', 'second', 'third'];
      for (const name of names) {
        await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
          token: tenant.token,
          variables: { input: { name, steps: [http('only', '/paging')] } },
        });
      }
      const page1 = await postGraphQL(stack.gateway.graphqlUrl, WorkflowListDocument, { token: tenant.token, variables: { first: 2 } });
      expect(page1.errors).toBeUndefined();
      expect(page1.data?.workflows?.edges.map((e) => e.node.name)).toEqual(['third', 'second']);
      expect(page1.data?.workflows?.pageInfo.hasNextPage).toBe(true);
      const page2 = await postGraphQL(stack.gateway.graphqlUrl, WorkflowListDocument, {
        token: tenant.token,
        variables: { first: 2, after: page1.data?.workflows?.pageInfo.endCursor },
      });
      expect(page2.data?.workflows?.edges.map((e) => e.node.name)).toEqual(['first']);
      expect(page2.data?.workflows?.pageInfo.hasNextPage).toBe(false);
      expect(page2.data?.workflows?.edges[0]?.node.owner).toEqual({ id: tenant.userId, name: 'Workflow Owner' });
    });

    it('publishes each state change to the event bus once, in order', async () => {
      const recorded = await RecordedEvents.start(stack.workflows.eventBus, ['workflow.#']);
      try {
        const { workflow, watch } = await createWorkflow([http('one', '/events-1'), http('two', '/events-2')]);
        const execution = await run(workflow.id);
        await watch.finished(execution.id);
        // Everything recorded is published, then everything published has arrived: a second copy would be here by now.
        await outboxDrained(stack.workflows.database);
        await recorded.settle();

        expect(recorded.typesFor(execution.id)).toEqual([
          'workflow.execution.started',
          'workflow.step.completed',
          'workflow.step.completed',
          'workflow.execution.completed',
        ]);
        expect(
          recorded.events.filter((event) => event.type === 'workflow.created' && event.payload.workflowId === workflow.id),
        ).toHaveLength(1);
      } finally {
        await recorded.stop();
      }
    });

    it('names the workflow in the events of a failed run, so that consumers need not ask for it', async () => {
      const recorded = await RecordedEvents.start(stack.workflows.eventBus, ['workflow.step.failed', 'workflow.execution.failed']);
      try {
        outside.on('/named-broken', (_call, _attempt, res) => json(res, 500, { error: 'down' }));
        const { workflow, watch } = await createWorkflow([http('call', '/named-broken', { retry: quickRetries(1) })], 'Invoice sync');
        const execution = await run(workflow.id);
        await watch.finished(execution.id);
        await outboxDrained(stack.workflows.database);
        await recorded.settle();

        const error = `POST ${outside.url}/named-broken responded with status 500: {"error":"down"}`;
        expect(
          recorded.events
            .filter((event) => event.payload.executionId === execution.id)
            .map(({ type, payload }) => ({ type, workflowName: payload.workflowName, error: payload.error })),
        ).toEqual([
          { type: 'workflow.step.failed', workflowName: 'Invoice sync', error },
          { type: 'workflow.execution.failed', workflowName: 'Invoice sync', error },
        ]);
      } finally {
        await recorded.stop();
      }
    });
  });
});
