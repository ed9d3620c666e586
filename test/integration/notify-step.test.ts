import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import {
  CreateWorkflowDocument,
  ExecutionDetailsDocument,
  MyNotificationsDocument,
  RegisterDocument,
  RunWorkflowDocument,
  SendNotificationDocument,
  type StepInput,
} from '@nexusflow/web-client';
import type { NotifyStepOutput, StepContext } from '../../subgraphs/nexusflow/workflows/src/steps/index.ts';
import { StepError } from '../../subgraphs/nexusflow/workflows/src/steps/index.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

/** Workflows whose notify steps reach users through the notifications subgraph, all of it real, over HTTP. */
describe('notify steps', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    const watches: WorkflowWatch[] = [];

    async function signUp() {
      const email = `notify-${randomUUID()}@example.com`;
      const response = await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
        variables: { input: { email, password: 'correct horse battery', name: 'Notified Owner', tenantName: 'Reminders Ltd' } },
      });
      const session = response.data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error(`registration failed: ${JSON.stringify(response)}`);
      return { token: session.accessToken, userId: session.user.id, tenantId: session.user.tenant.id };
    }

    type Owner = Awaited<ReturnType<typeof signUp>>;

    async function createWorkflow(owner: Owner, steps: StepInput[]) {
      const response = await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
        token: owner.token,
        variables: { input: { name: `Reminder ${randomUUID().slice(0, 8)}`, steps } },
      });
      const workflow = response.data?.createWorkflow;
      if (workflow?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(response)}`);
      const watch = await WorkflowWatch.start(stack.workflows.pubsub, workflow.id);
      watches.push(watch);
      return { workflow, watch };
    }

    async function runToTheEnd(owner: Owner, steps: StepInput[], input: unknown) {
      const { workflow, watch } = await createWorkflow(owner, steps);
      const started = (
        await postGraphQL(stack.gateway.graphqlUrl, RunWorkflowDocument, { token: owner.token, variables: { id: workflow.id, input } })
      ).data?.runWorkflow;
      if (started?.__typename !== 'Execution') throw new Error(`runWorkflow failed: ${JSON.stringify(started)}`);
      await watch.finished(started.id);
      return (await postGraphQL(stack.gateway.graphqlUrl, ExecutionDetailsDocument, { token: owner.token, variables: { id: started.id } }))
        .data?.execution;
    }

    const inbox = async (owner: Owner) =>
      (await postGraphQL(stack.gateway.graphqlUrl, MyNotificationsDocument, { token: owner.token })).data?.me;

    /** What the engine hands every attempt of step `notify` of a run of `owner`: the same idempotency key each time. */
    function attemptOf(owner: Owner, executionId = randomUUID()): StepContext {
      return {
        input: { invoice: 'INV-9' },
        steps: {},
        execution: { id: executionId, workflowId: randomUUID(), tenantId: owner.tenantId, ownerId: owner.userId },
        idempotencyKey: `${executionId}:notify`,
        signal: AbortSignal.timeout(10_000),
      };
    }

    /** The notify executor of the running workflows subgraph, configured as a workflow author would configure it. */
    function notifyExecutor(config: unknown) {
      const parsed = stack.workflows.services.steps.parseConfig('notify', config);
      if (!parsed.ok) throw new Error(parsed.problems.join('; '));
      const executor = stack.workflows.services.steps.get('notify')!;
      return (context: StepContext) => executor.execute(parsed.config, context);
    }

    beforeAll(async () => {
      stack = await startStack(mode, `notify_step_${mode}`);
    });

    afterEach(async () => {
      for (const watch of watches.splice(0)) await watch.close();
    });

    afterAll(async () => {
      await stack?.close();
    });

    it('tells the workflow’s owner in the app, with the variables rendered from the run’s input and earlier steps', async () => {
      const owner = await signUp();
      const execution = await runToTheEnd(
        owner,
        [
          { key: 'total', type: 'transform', config: { template: '{{input.amount}} EUR' } },
          {
            key: 'remind',
            type: 'notify',
            config: {
              eventType: 'invoice.overdue',
              variables: { title: 'Invoice {{input.number}} is overdue', body: '{{steps.total.output}} have been due since {{input.due}}' },
            },
          },
        ],
        { number: 'INV-7', amount: 120, due: '2030-01-31' },
      );

      expect(execution).toMatchObject({ status: 'COMPLETED', error: null });
      const output = execution?.stepRuns.find((run) => run.stepKey === 'remind')?.output as NotifyStepOutput;
      expect(output).toEqual({
        notificationId: expect.any(String),
        userId: owner.userId,
        title: 'Invoice INV-7 is overdue',
        body: '120 EUR have been due since 2030-01-31',
        channels: [],
      });
      const me = await inbox(owner);
      expect(me?.unreadNotificationCount).toBe(1);
      expect(me?.notifications).toEqual([
        expect.objectContaining({
          id: output.notificationId,
          eventType: 'invoice.overdue',
          title: 'Invoice INV-7 is overdue',
          body: '120 EUR have been due since 2030-01-31',
          read: false,
        }),
      ]);
    });

    it('notifies once when a step is retried, since every attempt sends the same idempotency key', async () => {
      const owner = await signUp();
      const attempt = notifyExecutor({ eventType: 'invoice.overdue', variables: { title: 'Invoice {{input.invoice}} is overdue' } });
      const context = attemptOf(owner);

      const first = await attempt(context);
      const retried = await attempt(context);

      expect(retried).toEqual(first);
      const me = await inbox(owner);
      expect(me?.notifications?.map((notification) => [notification.id, notification.title])).toEqual([
        [(first as { output: NotifyStepOutput }).output.notificationId, 'Invoice INV-9 is overdue'],
      ]);
    });

    it('sends a separate notification for each run, whose keys differ', async () => {
      const owner = await signUp();
      const attempt = notifyExecutor({ eventType: 'invoice.overdue', variables: { title: 'Invoice {{input.invoice}} is overdue' } });
      await attempt(attemptOf(owner));
      await attempt(attemptOf(owner));
      expect((await inbox(owner))?.notifications).toHaveLength(2);
    });

    it('returns the first notification for a repeated sendNotification with the same idempotency key', async () => {
      const owner = await signUp();
      const send = () =>
        postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
          token: owner.token,
          variables: {
            input: {
              userId: owner.userId,
              eventType: 'release.published',
              variables: { title: 'Release 4.2' },
              idempotencyKey: 'release-4.2',
            },
          },
        });

      const first = await send();
      const repeated = await send();

      expect(first.errors).toBeUndefined();
      expect(repeated.data?.sendNotification).toEqual(first.data?.sendNotification);
      expect((await inbox(owner))?.notifications).toHaveLength(1);
    });

    it('creates one notification for repeats that arrive at the same time', async () => {
      const owner = await signUp();
      const send = () =>
        postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
          token: owner.token,
          variables: { input: { userId: owner.userId, eventType: 'release.published', idempotencyKey: 'at-once' } },
        });

      const answers = await Promise.all([send(), send(), send()]);

      expect(answers.map((answer) => answer.errors)).toEqual([undefined, undefined, undefined]);
      expect(new Set(answers.map((answer) => answer.data?.sendNotification.id)).size).toBe(1);
      expect((await inbox(owner))?.notifications).toHaveLength(1);
    });

    it('refuses, with CONFLICT, an idempotency key used before for another notification', async () => {
      const owner = await signUp();
      const send = (eventType: string) =>
        postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
          token: owner.token,
          variables: { input: { userId: owner.userId, eventType, idempotencyKey: 'same-key' } },
        });
      await send('release.published');
      const reused = await send('release.withdrawn');
      expect(reused.errors).toEqual([
        expect.objectContaining({ extensions: { code: 'CONFLICT', field: 'idempotencyKey', serviceName: 'notifications' } }),
      ]);
      expect((await inbox(owner))?.notifications).toHaveLength(1);
    });

    it('refuses, with BAD_USER_INPUT, a user id that cannot be anyone’s', async () => {
      const owner = await signUp();
      const response = await postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
        token: owner.token,
        variables: { input: { userId: 'nobody', eventType: 'release.published' } },
      });
      expect(response.errors).toEqual([
        expect.objectContaining({
          message: '"userId" must be a UUID',
          extensions: { code: 'BAD_USER_INPUT', field: 'userId', serviceName: 'notifications' },
        }),
      ]);
    });

    it('fails a step for good, with the service’s reason, when the service refuses the notification', async () => {
      const owner = await signUp();
      const context = attemptOf(owner);
      await notifyExecutor({ eventType: 'invoice.paid' })(context);

      const refused = await notifyExecutor({ eventType: 'invoice.overdue' })(context).catch((error: unknown) => error);

      expect(refused).toBeInstanceOf(StepError);
      expect(refused).toMatchObject({
        retryable: false,
        message: expect.stringMatching(/^the notifications service refused the notification: idempotencyKey was already used/),
        details: { code: 'CONFLICT' },
      });
    });

    it('fails a run at once, without retrying, when the step’s user id renders to no user id', async () => {
      const owner = await signUp();
      const execution = await runToTheEnd(
        owner,
        [
          {
            key: 'remind',
            type: 'notify',
            config: { eventType: 'invoice.overdue', userId: '{{input.assignee}}' },
            retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 },
          },
        ],
        { assignee: 'ada@example.com' },
      );
      expect(execution).toMatchObject({
        status: 'FAILED',
        error: { stepKey: 'remind', message: 'userId rendered to "ada@example.com", which is not a user id' },
      });
      expect(execution?.stepRuns).toHaveLength(1);
      // The owner hears that the run failed, and nothing else.
      await expect
        .poll(async () => (await inbox(owner))?.notifications?.map((notification) => notification.eventType))
        .toEqual(['workflow.execution.failed']);
    });

    it('fails a run at once, without retrying, when the step’s user is a user of another tenant, who hears nothing', async () => {
      const owner = await signUp();
      const stranger = await signUp();
      const execution = await runToTheEnd(
        owner,
        [
          {
            key: 'remind',
            type: 'notify',
            config: { eventType: 'invoice.overdue', userId: '{{input.assignee}}' },
            retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 },
          },
        ],
        { assignee: stranger.userId },
      );
      expect(execution).toMatchObject({
        status: 'FAILED',
        error: { stepKey: 'remind', message: 'the notifications service refused the notification: No user with this id in your tenant' },
      });
      expect(execution?.stepRuns).toHaveLength(1);
      await expect
        .poll(async () => (await inbox(owner))?.notifications?.map((notification) => notification.eventType))
        .toEqual(['workflow.execution.failed']);
      expect((await inbox(stranger))?.notifications).toEqual([]);
    });

    it('fails an attempt retryably while the notifications service cannot reach auth, and notifies when it is retried', async () => {
      const owner = await signUp();
      const attempt = notifyExecutor({ eventType: 'invoice.overdue', variables: { title: 'Invoice {{input.invoice}} is overdue' } });
      const context = attemptOf(owner);

      stack.authForNotifications.takeDown();
      let failed: unknown;
      try {
        failed = await attempt(context).catch((error: unknown) => error);
      } finally {
        stack.authForNotifications.bringUp();
      }
      const retried = await attempt(context);

      expect(failed).toBeInstanceOf(StepError);
      expect(failed).toMatchObject({ retryable: true, details: { code: 'SERVICE_UNAVAILABLE' } });
      expect(retried).toMatchObject({ kind: 'completed', output: { userId: owner.userId, title: 'Invoice INV-9 is overdue' } });
      expect((await inbox(owner))?.notifications).toHaveLength(1);
    });

    it('gives a retried attempt its notification back even while auth cannot be reached, since the first attempt was checked', async () => {
      const owner = await signUp();
      const attempt = notifyExecutor({ eventType: 'invoice.overdue', variables: { title: 'Invoice {{input.invoice}} is overdue' } });
      const context = attemptOf(owner);
      const first = await attempt(context);

      stack.authForNotifications.takeDown();
      let retried: unknown;
      try {
        retried = await attempt(context);
      } finally {
        stack.authForNotifications.bringUp();
      }

      expect(retried).toEqual(first);
      expect((await inbox(owner))?.notifications).toHaveLength(1);
    });
  });
});
