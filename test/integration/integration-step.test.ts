import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Role, secretOrDevelopmentDefault, signAccessToken, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { FakeGoogle, FakeHooks, FakeSlack } from '../../subgraphs/nexusflow/integrations/test/support/fake-providers.ts';
import type { WorkflowServices } from '../../subgraphs/nexusflow/workflows/src/context.ts';
import type { IntegrationStepOutput } from '../../subgraphs/nexusflow/workflows/src/steps/index.ts';
import { LossyProxy } from '../support/lossy-proxy.ts';
import { routesFor, startServices, TestServices } from '../support/services.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { id } ... on IntegrationConnectionFailed { message } }
}`;
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) { __typename ... on Integration { id } }
}`;
const POST = `mutation ($integrationId: ID!, $channel: String!, $text: String!) {
  postIntegrationMessage(integrationId: $integrationId, channel: $channel, text: $text) {
    __typename
    ... on IntegrationMessagePosted { provider channel messageId }
    ... on IntegrationActionFailed { reason retryable providerError }
    ... on IntegrationNotFound { id }
  }
}`;
const MESSAGES = `query ($integrationId: ID!) {
  integrationMessages(integrationId: $integrationId, first: 5) {
    __typename ... on IntegrationMailMessages { messages { id subject from body } } ... on IntegrationNotFound { id }
  }
}`;
const MESSAGE = `query ($integrationId: ID!, $id: ID!) {
  integrationMessage(integrationId: $integrationId, id: $id) {
    __typename ... on IntegrationMailMessage { id subject body } ... on IntegrationActionFailed { reason providerError }
  }
}`;
const CREATE = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) { __typename ... on Workflow { id } ... on InvalidWorkflow { problems { field problem } } }
}`;
const RUN = 'mutation ($id: ID!, $input: JSON) { runWorkflow(id: $id, input: $input) { __typename ... on Execution { id } } }';
const EXECUTION = `query ($id: ID!) {
  execution(id: $id) { status error { message stepKey } stepRuns { stepKey attempt status output error startedAt finishedAt } }
}`;

/** Fast retries, so that a retried attempt is seen at once. */
const RETRY = { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 };
/** The longest a provider's Retry-After may put an attempt off, in these tests. */
const MAX_RETRY_AFTER_MS = 1500;

/**
 * Workflows whose integration steps act through a tenant's connections: the workflows and integrations subgraphs
 * behind the gateway, Slack, Gmail and Zapier faked at their HTTP APIs, Slack through its official client.
 */
describe('integration steps', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    const slack = new FakeSlack('slack-client', 'slack-secret');
    const google = new FakeGoogle('google-client', 'google-secret');
    const hooks = new FakeHooks();
    let services: TestServices;
    let gateway: RunningGateway;
    let workflows: RunningSubgraph<WorkflowServices>;
    let toIntegrations: LossyProxy;
    const watches: WorkflowWatch[] = [];

    beforeAll(async () => {
      await Promise.all([slack.start(), google.start(), hooks.start()]);
      google.mailbox.push({
        id: '18c9',
        threadId: '18c9',
        from: 'ada@example.com',
        to: ['sales@acme.example'],
        subject: 'Renewal',
        body: 'We would like to renew for two years.',
        receivedAt: new Date('2026-11-30T09:00:00Z'),
      });
      services = await TestServices.create(mode, `integration_step_${mode}`);
      const running: Record<string, RunningSubgraph<unknown>> = {};
      await startServices(services, 'nexusflow', ['integrations'], running, {
        integrations: {
          INTEGRATIONS_SLACK_CLIENT_ID: slack.clientId,
          INTEGRATIONS_SLACK_CLIENT_SECRET: slack.clientSecret,
          INTEGRATIONS_SLACK_BASE_URL: slack.origin,
          INTEGRATIONS_GMAIL_CLIENT_ID: google.clientId,
          INTEGRATIONS_GMAIL_CLIENT_SECRET: google.clientSecret,
          INTEGRATIONS_GMAIL_BASE_URL: google.origin,
          INTEGRATIONS_ZAPIER_BASE_URL: hooks.origin,
        },
      });
      // The workflow engine reaches the integrations service through a proxy that can lose its answers.
      toIntegrations = await new LossyProxy(running.integrations!.graphqlUrl).start();
      await startServices(services, 'nexusflow', ['workflows'], running, {
        workflows: {
          OUTBOX_POLL_INTERVAL_MS: '50',
          INTEGRATIONS_URL: toIntegrations.url,
          STEP_MAX_RETRY_AFTER_MS: String(MAX_RETRY_AFTER_MS),
        },
      });
      workflows = running.workflows as RunningSubgraph<WorkflowServices>;
      gateway = await services.startGateway('nexusflow', routesFor('nexusflow', running));
    });

    afterEach(async () => {
      for (const watch of watches.splice(0)) await watch.close();
      slack.nextAnswers.splice(0);
    });

    afterAll(async () => {
      await services?.close();
      await Promise.all([slack.close(), google.close(), hooks.close(), toIntegrations?.close()]);
    });

    /** An admin of a tenant of their own, who owns the workflows they create. */
    async function adminOfNewTenant() {
      const identity = { userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Admin] };
      const { token } = await signAccessToken(identity, secretOrDevelopmentDefault(undefined), 900);
      const send = async (query: string, variables: Record<string, unknown> = {}) => {
        const response = await postGraphQL<Record<string, any>>(gateway.graphqlUrl, query, { token, variables });
        if (response.errors) throw new Error(`${query}: ${JSON.stringify(response.errors)}`);
        return response.data!;
      };
      return { ...identity, token, send };
    }

    type Admin = Awaited<ReturnType<typeof adminOfNewTenant>>;

    async function connect(admin: Admin, provider: 'SLACK' | 'GMAIL', fake: FakeSlack | FakeGoogle): Promise<string> {
      const { authorizationUrl } = (await admin.send(CONNECT, { provider })).connectIntegration;
      const { code, state } = await fake.consent(authorizationUrl);
      const completed = (await admin.send(COMPLETE, { state, code })).completeIntegrationConnection;
      if (completed.__typename !== 'Integration') throw new Error(`connecting ${provider} failed: ${completed.message}`);
      return completed.id as string;
    }

    async function runToTheEnd(admin: Admin, steps: unknown[], input: unknown) {
      const created = (await admin.send(CREATE, { input: { name: `Deal alerts ${randomUUID().slice(0, 8)}`, steps } })).createWorkflow;
      if (created.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
      const watch = await WorkflowWatch.start(workflows.pubsub, created.id);
      watches.push(watch);
      const started = (await admin.send(RUN, { id: created.id, input })).runWorkflow;
      await watch.finished(started.id);
      return (await admin.send(EXECUTION, { id: started.id })).execution;
    }

    it('posts the text rendered from the run’s input to Slack, then sends the deal to a Zapier hook, and completes', async () => {
      const admin = await adminOfNewTenant();
      const slackId = await connect(admin, 'SLACK', slack);
      const hookPath = `/hooks/catch/42/${randomUUID()}/`;
      const zapierId = (await admin.send(CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: `${hooks.origin}${hookPath}` }))
        .connectHookIntegration.id as string;
      const deal = `Globex ${randomUUID().slice(0, 8)}`;

      const execution = await runToTheEnd(
        admin,
        [
          {
            key: 'announce',
            type: 'integration',
            config: {
              action: 'postMessage',
              integrationId: slackId,
              channel: '#general',
              text: 'Deal won: {{input.deal}} for {{input.amount}} EUR',
            },
          },
          {
            key: 'forward',
            type: 'integration',
            config: {
              action: 'sendToHook',
              integrationId: '{{input.zapier}}',
              payload: { deal: '{{input.deal}}', slackTs: '{{steps.announce.output.messageId}}' },
            },
          },
        ],
        { deal, amount: 1200, zapier: zapierId },
      );

      expect(execution).toMatchObject({ status: 'COMPLETED', error: null });
      const posted = slack.messages.find((message) => message.text === `Deal won: ${deal} for 1200 EUR`);
      expect(posted).toMatchObject({ channel: 'C0GENERAL' });
      const stepRuns = execution.stepRuns as { stepKey: string; output: unknown }[];
      const outputs = Object.fromEntries(stepRuns.map((run) => [run.stepKey, run.output]));
      expect(outputs.announce as IntegrationStepOutput).toEqual({
        action: 'postMessage',
        integrationId: slackId,
        provider: 'SLACK',
        channel: 'C0GENERAL',
        messageId: posted!.ts,
        postedAt: expect.any(String),
      });
      expect(outputs.forward).toEqual({ action: 'sendToHook', integrationId: zapierId, provider: 'ZAPIER', status: 200 });
      expect(hooks.deliveries.filter((delivery) => delivery.path === hookPath).map((delivery) => delivery.payload)).toEqual([
        { deal, slackTs: posted!.ts },
      ]);
    });

    it('creates a CRM contact from the run’s input, and changes it in a later run by its id', async () => {
      const admin = await adminOfNewTenant();
      const email = `ada-${randomUUID().slice(0, 8)}@example.com`;
      const created = await runToTheEnd(
        admin,
        [
          {
            key: 'contact',
            type: 'integration',
            config: {
              action: 'upsertCrmRecord',
              record: { email: '{{input.email}}', firstName: '{{input.name}}', custom: { source: 'workflow' } },
            },
          },
        ],
        { email, name: 'Ada' },
      );
      expect(created).toMatchObject({ status: 'COMPLETED', error: null });
      const { contactId } = created.stepRuns[0].output as { contactId: string };
      const changed = await runToTheEnd(
        admin,
        [
          {
            key: 'contact',
            type: 'integration',
            config: { action: 'upsertCrmRecord', contactId: '{{input.id}}', record: { company: 'Globex' } },
          },
        ],
        { id: contactId },
      );
      expect(changed.stepRuns[0].output).toEqual({ action: 'upsertCrmRecord', contactId });
      const contacts = (await admin.send('{ crmContacts(first: 10) { nodes { id email firstName company custom } } }')).crmContacts.nodes;
      expect(contacts).toEqual([{ id: contactId, email, firstName: 'Ada', company: 'Globex', custom: { source: 'workflow' } }]);
    });

    it('fails the step for good after one attempt when Slack answers channel_not_found', async () => {
      const admin = await adminOfNewTenant();
      const slackId = await connect(admin, 'SLACK', slack);
      const before = slack.messages.length;
      const execution = await runToTheEnd(
        admin,
        [
          {
            key: 'announce',
            type: 'integration',
            config: { action: 'postMessage', integrationId: slackId, channel: '{{input.channel}}', text: 'hello' },
            retry: RETRY,
          },
        ],
        { channel: 'C0NOWHERE' },
      );
      expect(execution).toMatchObject({
        status: 'FAILED',
        error: { stepKey: 'announce', message: 'Slack refused the message: channel_not_found' },
      });
      expect(execution.stepRuns).toHaveLength(1);
      expect(slack.messages).toHaveLength(before);
    });

    const waitBetweenAttempts = (execution: { stepRuns: { attempt: number; startedAt: string; finishedAt: string | null }[] }) => {
      const [first, second] = [1, 2].map((attempt) => execution.stepRuns.find((run) => run.attempt === attempt)!);
      return Date.parse(second!.startedAt) - Date.parse(first!.finishedAt!);
    };

    it('retries an attempt Slack rate limited once its Retry-After has passed, not at its shorter backoff, and posts once on the next', async () => {
      const admin = await adminOfNewTenant();
      const slackId = await connect(admin, 'SLACK', slack);
      slack.nextAnswers.push({ status: 429, headers: { 'retry-after': '1' }, body: { ok: false, error: 'ratelimited' } });
      const text = `after a rate limit ${randomUUID()}`;
      const execution = await runToTheEnd(
        admin,
        [
          {
            key: 'announce',
            type: 'integration',
            config: { action: 'postMessage', integrationId: slackId, channel: '#general', text },
            retry: RETRY,
          },
        ],
        {},
      );
      expect(execution.status).toBe('COMPLETED');
      const attempts = (execution.stepRuns as { attempt: number; status: string }[]).map((run) => [run.attempt, run.status]);
      expect(attempts).toEqual([
        [1, 'FAILED'],
        [2, 'COMPLETED'],
      ]);
      expect(waitBetweenAttempts(execution)).toBeGreaterThanOrEqual(1000);
      expect(slack.messages.filter((message) => message.text === text)).toHaveLength(1);
    });

    it('waits no longer than the deployment allows however long Slack asks', async () => {
      const admin = await adminOfNewTenant();
      const slackId = await connect(admin, 'SLACK', slack);
      slack.nextAnswers.push({ status: 429, headers: { 'retry-after': '3600' }, body: { ok: false, error: 'ratelimited' } });
      const execution = await runToTheEnd(
        admin,
        [
          {
            key: 'announce',
            type: 'integration',
            config: { action: 'postMessage', integrationId: slackId, channel: '#general', text: `patient ${randomUUID()}` },
            retry: RETRY,
          },
        ],
        {},
      );
      expect(execution.status).toBe('COMPLETED');
      const waited = waitBetweenAttempts(execution);
      expect(waited).toBeGreaterThanOrEqual(MAX_RETRY_AFTER_MS);
      expect(waited).toBeLessThan(60_000);
    });

    it('posts once when the answer to the first attempt is lost after Slack took the message, and outputs that message', async () => {
      const admin = await adminOfNewTenant();
      const slackId = await connect(admin, 'SLACK', slack);
      const text = `lost answer ${randomUUID()}`;
      toIntegrations.loseAnswers('WorkflowIntegrationPostMessage');
      const execution = await runToTheEnd(
        admin,
        [
          {
            key: 'announce',
            type: 'integration',
            config: { action: 'postMessage', integrationId: slackId, channel: '#general', text },
            retry: RETRY,
          },
        ],
        {},
      );
      expect(execution.status).toBe('COMPLETED');
      expect((execution.stepRuns as { attempt: number; status: string }[]).map((run) => [run.attempt, run.status])).toEqual([
        [1, 'FAILED'],
        [2, 'COMPLETED'],
      ]);
      const posted = slack.messages.filter((message) => message.text === text);
      expect(posted).toHaveLength(1);
      expect(execution.stepRuns[1].output).toMatchObject({ action: 'postMessage', messageId: posted[0]!.ts });
    });

    it('creates one contact when the answer to the first attempt is lost after it was saved, and a later run by its email changes it', async () => {
      const admin = await adminOfNewTenant();
      const email = `lin-${randomUUID().slice(0, 8)}@example.com`;
      const upsert = (record: Record<string, string>) => [
        { key: 'contact', type: 'integration', config: { action: 'upsertCrmRecord', record }, retry: RETRY },
      ];
      toIntegrations.loseAnswers('WorkflowIntegrationSaveCrmContact');
      const created = await runToTheEnd(admin, upsert({ email: '{{input.email}}', firstName: 'Lin' }), { email });
      expect((created.stepRuns as { attempt: number; status: string }[]).map((run) => [run.attempt, run.status])).toEqual([
        [1, 'FAILED'],
        [2, 'COMPLETED'],
      ]);
      const { contactId } = created.stepRuns[1].output as { contactId: string };

      const changed = await runToTheEnd(admin, upsert({ email: email.toUpperCase(), company: 'Initech' }), {});
      expect(changed.stepRuns[0].output).toEqual({ action: 'upsertCrmRecord', contactId });
      const contacts = (await admin.send('{ crmContacts(first: 10) { nodes { id firstName company } } }')).crmContacts.nodes;
      expect(contacts).toEqual([{ id: contactId, firstName: 'Lin', company: 'Initech' }]);
    });

    it('posts and reads mail through the gateway for the tenant only, and refuses a VIEWER’s post', async () => {
      const admin = await adminOfNewTenant();
      const slackId = await connect(admin, 'SLACK', slack);
      const gmailId = await connect(admin, 'GMAIL', google);

      expect(
        (await admin.send(POST, { integrationId: slackId, channel: '#general', text: 'Hello from the API' })).postIntegrationMessage,
      ).toMatchObject({
        __typename: 'IntegrationMessagePosted',
        provider: 'SLACK',
        channel: 'C0GENERAL',
      });
      expect((await admin.send(POST, { integrationId: slackId, channel: 'C0PRIVATE', text: 'x' })).postIntegrationMessage).toEqual({
        __typename: 'IntegrationActionFailed',
        reason: 'REFUSED',
        retryable: false,
        providerError: 'not_in_channel',
      });
      expect((await admin.send(MESSAGES, { integrationId: gmailId })).integrationMessages).toEqual({
        __typename: 'IntegrationMailMessages',
        messages: [{ id: '18c9', subject: 'Renewal', from: 'ada@example.com', body: null }],
      });
      expect((await admin.send(MESSAGE, { integrationId: gmailId, id: '18c9' })).integrationMessage).toEqual({
        __typename: 'IntegrationMailMessage',
        id: '18c9',
        subject: 'Renewal',
        body: 'We would like to renew for two years.',
      });

      const stranger = await adminOfNewTenant();
      expect((await stranger.send(MESSAGES, { integrationId: gmailId })).integrationMessages).toEqual({
        __typename: 'IntegrationNotFound',
        id: gmailId,
      });
      const viewer = await signAccessToken(
        { userId: randomUUID(), tenantId: admin.tenantId, roles: [Role.Viewer] },
        secretOrDevelopmentDefault(undefined),
        900,
      );
      const refused = await postGraphQL(gateway.graphqlUrl, POST, {
        token: viewer.token,
        variables: { integrationId: slackId, channel: '#general', text: 'x' },
      });
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });
  });
});
