import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Role, secretOrDevelopmentDefault, signAccessToken, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes, TcpProxy } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import type { AiServices } from '../../subgraphs/nexusflow/ai/src/context.ts';
import { subgraph as aiSubgraph } from '../../subgraphs/nexusflow/ai/src/subgraph.ts';
import {
  answerWith,
  FakeLlmProviders,
  serverError,
  type ReceivedRequest,
} from '../../subgraphs/nexusflow/ai/test/support/fake-llm-providers.ts';
import type { WorkflowServices } from '../../subgraphs/nexusflow/workflows/src/context.ts';
import { StepError, type StepContext } from '../../subgraphs/nexusflow/workflows/src/steps/index.ts';
import { subgraph as workflowsSubgraph } from '../../subgraphs/nexusflow/workflows/src/subgraph.ts';
import { CLOSED_PORT_URL, routesFor, TestServices } from '../support/services.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

const SUGGEST = `mutation ($goal: String!) {
  suggestWorkflowSteps(goal: $goal) {
    __typename
    ... on WorkflowSuggestion { name description definition attempts completion { model provider promptName promptVersion } }
    ... on NoValidSuggestion { message attempts problems { field problem } }
  }
}`;
const CREATE = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) { __typename ... on Workflow { id name } ... on InvalidWorkflow { problems { field problem } } }
}`;
const RUN = 'mutation ($id: ID!, $input: JSON) { runWorkflow(id: $id, input: $input) { __typename ... on Execution { id } } }';
const EXECUTION = `query ($id: ID!) {
  execution(id: $id) { status output error { message stepKey } stepRuns { stepKey attempt status output error } }
}`;

/** Each test asks for a tenant of its own, and far fewer requests than this, except the one that goes over. */
const REQUESTS_PER_MINUTE = 20;

/** A draft the workflows service refuses: there is no step type `email`. */
const UNKNOWN_STEP_TYPE = JSON.stringify({ name: 'Welcome customers', steps: [{ key: 'welcome', type: 'email', config: {} }] });

/** Welcomes a customer by name, and marks gold-tier customers as VIPs. */
const WELCOME = {
  name: 'Welcome customers',
  description: 'Greets a new customer and flags VIPs',
  steps: [
    { key: 'greeting', type: 'transform', config: { template: { text: 'Welcome, {{input.name}}!' } } },
    {
      key: 'isVip',
      type: 'condition',
      config: { left: '{{input.tier}}', operator: 'eq', right: 'gold', then: 'vipNote', else: null },
    },
    { key: 'vipNote', type: 'transform', config: { template: 'VIP: {{steps.greeting.output.text}}' } },
  ],
  triggers: [{ type: 'MANUAL' }],
};

type StepRunView = { stepKey: string; output: unknown };

/** Each step's output by its key, from an execution as EXECUTION selects it. */
function outputsOf(execution: { stepRuns?: StepRunView[] } | undefined): Record<string, unknown> {
  return Object.fromEntries((execution?.stepRuns ?? []).map((run) => [run.stepKey, run.output]));
}

/** What a request to a fake provider asked last: the draft's goal, or the repair request. */
function lastMessageOf(request: ReceivedRequest | undefined): string | undefined {
  return (request?.body.messages as { content: string }[] | undefined)?.at(-1)?.content;
}

/**
 * The ai and workflows subgraphs calling each other behind the gateway: suggestions checked by the workflows service's
 * own validation, and ai steps answered by the ai service, whose models are fake OpenAI and Anthropic servers.
 */
describe('AI in workflows', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let services: TestServices;
    let fake: FakeLlmProviders;
    let gateway: RunningGateway;
    let workflows: RunningSubgraph<WorkflowServices>;
    let ai: RunningSubgraph<AiServices>;
    let workflowsForAi: TcpProxy;
    const watches: WorkflowWatch[] = [];

    beforeAll(async () => {
      fake = await FakeLlmProviders.start();
      services = await TestServices.create(mode, `ai_workflows_${mode}`);
      // Each calls the other: the workflows service's ai steps go through a proxy pointed at the ai service once it runs.
      const aiForWorkflows = await TcpProxy.start();
      services.onClose(() => aiForWorkflows.close());
      workflows = await services.start(workflowsSubgraph, {
        ...(await services.environmentFor('workflows')),
        AI_URL: `http://127.0.0.1:${aiForWorkflows.port}/graphql`,
        NOTIFICATIONS_URL: CLOSED_PORT_URL,
        OUTBOX_POLL_INTERVAL_MS: '50',
      });
      // The ai service's checks of drafts go through one a test takes down.
      workflowsForAi = await TcpProxy.start(workflows.graphqlUrl);
      services.onClose(() => workflowsForAi.close());
      ai = await services.start(aiSubgraph, {
        ...(await services.environmentFor('ai')),
        ...fake.environment,
        WORKFLOWS_URL: workflowsForAi.urlFor(workflows.graphqlUrl),
        AUTH_URL: CLOSED_PORT_URL,
        AI_RETRY_BASE_MS: '1',
        AI_REQUESTS_PER_MINUTE: String(REQUESTS_PER_MINUTE),
      });
      aiForWorkflows.pointAt(ai.graphqlUrl);
      gateway = await services.startGateway('nexusflow', routesFor('nexusflow', { workflows, ai }));
    });

    afterEach(async () => {
      for (const watch of watches.splice(0)) await watch.close();
      fake.recover('openai');
      fake.recover('anthropic');
    });

    afterAll(async () => {
      await services?.close();
      await fake?.close();
    });

    async function member() {
      const user = { userId: randomUUID(), tenantId: randomUUID() };
      const { token } = await signAccessToken({ ...user, roles: [Role.Member] }, secretOrDevelopmentDefault(undefined), 900);
      return { ...user, token };
    }

    type Member = Awaited<ReturnType<typeof member>>;

    const send = (who: Member, query: string, variables: Record<string, unknown> = {}) =>
      postGraphQL<Record<string, any>>(gateway.graphqlUrl, query, { token: who.token, variables });

    async function runToTheEnd(who: Member, definition: unknown, input: unknown) {
      const created = (await send(who, CREATE, { input: definition })).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
      const watch = await WorkflowWatch.start(workflows.pubsub, created.id as string);
      watches.push(watch);
      const started = (await send(who, RUN, { id: created.id, input })).data?.runWorkflow;
      if (started?.__typename !== 'Execution') throw new Error(`runWorkflow failed: ${JSON.stringify(started)}`);
      await watch.finished(started.id as string);
      return (await send(who, EXECUTION, { id: started.id })).data?.execution;
    }

    /** What the engine hands an attempt at an ai step of a run of `who`. */
    function attemptOf(who: Member, input: unknown): StepContext {
      const executionId = randomUUID();
      return {
        input,
        steps: {},
        execution: { id: executionId, workflowId: randomUUID(), tenantId: who.tenantId, ownerId: who.userId },
        idempotencyKey: `${executionId}:triage`,
        signal: AbortSignal.timeout(10_000),
      };
    }

    /** The ai executor of the running workflows subgraph, configured as a workflow author would configure it. */
    function aiExecutor(config: unknown) {
      const parsed = workflows.services.steps.parseConfig('ai', config);
      if (!parsed.ok) throw new Error(parsed.problems.join('; '));
      const executor = workflows.services.steps.get('ai')!;
      return (context: StepContext) => executor.execute(parsed.config, context);
    }

    it('suggests a workflow the workflows service accepts, repairing a refused draft, which the user creates and runs to completion', async () => {
      const user = await member();
      fake.script('openai', answerWith(UNKNOWN_STEP_TYPE), answerWith(`Here it is:\n\`\`\`json\n${JSON.stringify(WELCOME)}\n\`\`\``));

      const suggested = (await send(user, SUGGEST, { goal: `Welcome each new customer by name and flag gold-tier ones (${randomUUID()})` }))
        .data?.suggestWorkflowSteps;

      expect(suggested).toEqual({
        __typename: 'WorkflowSuggestion',
        name: 'Welcome customers',
        description: 'Greets a new customer and flags VIPs',
        definition: expect.objectContaining({ name: 'Welcome customers', steps: expect.any(Array) }),
        attempts: 2,
        completion: { model: 'gpt-4o', provider: 'OPENAI', promptName: 'suggest-workflow-steps', promptVersion: 0 },
      });
      const [draft, repair] = fake.requestsTo('openai').slice(-2);
      // The model was told the step types from the workflows service's own schemas, then what was wrong with its draft.
      expect(lastMessageOf(draft)).toContain('- notify: ');
      expect(lastMessageOf(repair)).toMatch(
        /^The workflows service refused that definition:\n- steps\.0\.config: .*unknown step type "email"/,
      );

      const execution = await runToTheEnd(user, suggested.definition, { name: 'Ada', tier: 'gold' });
      expect(execution).toMatchObject({ status: 'COMPLETED', error: null, output: 'VIP: Welcome, Ada!' });
    });

    it('answers NoValidSuggestion with the last problems, and no definition, when every draft is refused', async () => {
      const user = await member();
      fake.script('openai', answerWith('I would use an email step.'), answerWith(UNKNOWN_STEP_TYPE), answerWith(UNKNOWN_STEP_TYPE));

      const suggested = (await send(user, SUGGEST, { goal: `Email every new customer (${randomUUID()})` })).data?.suggestWorkflowSteps;

      expect(suggested).toEqual({
        __typename: 'NoValidSuggestion',
        message: 'The model wrote no workflow definition the workflows service accepts, in 3 attempts',
        attempts: 3,
        problems: [{ field: 'steps.0.config', problem: expect.stringContaining('unknown step type "email"') }],
      });
      expect(lastMessageOf(fake.requestsTo('openai').at(-2))).toMatch(/- the answer is not JSON/);
    });

    it('refuses a blank goal, and a viewer, without asking a model', async () => {
      const user = await member();
      const before = fake.received.length;
      const blank = await send(user, SUGGEST, { goal: '  ' });
      expect(blank.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'goal' });
      const viewer = await signAccessToken(
        { userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Viewer] },
        secretOrDevelopmentDefault(undefined),
        900,
      );
      const refused = await postGraphQL<Record<string, any>>(gateway.graphqlUrl, SUGGEST, {
        token: viewer.token,
        variables: { goal: 'Anything' },
      });
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(fake.received.length).toBe(before);
    });

    it('answers SERVICE_UNAVAILABLE, and no suggestion, while the workflows service cannot check drafts', async () => {
      const user = await member();
      workflowsForAi.takeDown();
      let answered;
      try {
        answered = await send(user, SUGGEST, { goal: `Welcome each new customer (${randomUUID()})` });
      } finally {
        workflowsForAi.bringUp();
      }
      expect(answered.data).toBeNull();
      expect(answered.errors).toEqual([
        expect.objectContaining({
          message: 'The workflows service cannot check suggestions right now; try again',
          extensions: expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }),
        }),
      ]);
    });

    it('runs a workflow whose ai step classifies the input, and whose later steps branch on and use the label', async () => {
      const user = await member();
      fake.script('openai', answerWith('{"label": "bug", "confidence": 0.9}'));

      const execution = await runToTheEnd(
        user,
        {
          name: 'Triage support email',
          steps: [
            { key: 'triage', type: 'ai', config: { operation: 'classify', text: '{{input.message}}', labels: ['billing', 'bug'] } },
            {
              key: 'isBug',
              type: 'condition',
              config: { left: '{{steps.triage.output.label}}', operator: 'eq', right: 'bug', then: 'escalate', else: null },
            },
            {
              key: 'escalate',
              type: 'transform',
              config: {
                template: { priority: 'high', label: '{{steps.triage.output.label}}', confidence: '{{steps.triage.output.confidence}}' },
              },
            },
          ],
        },
        { message: `The export button crashes the app (${randomUUID()})` },
      );

      expect(execution).toMatchObject({ status: 'COMPLETED', output: { priority: 'high', label: 'bug', confidence: 0.9 } });
      expect(outputsOf(execution).triage).toEqual({
        operation: 'classify',
        label: 'bug',
        confidence: 0.9,
        model: 'gpt-4o-mini',
        provider: 'OPENAI',
        promptName: 'classify',
        promptVersion: 0,
        inputTokens: expect.any(Number),
        outputTokens: expect.any(Number),
        costUsd: expect.any(Number),
      });
    });

    it('chains ai steps: a completion, its summary, and data extracted from the summary', async () => {
      const user = await member();
      fake.script(
        'openai',
        answerWith('Dear Ada, your order 1042 ships on Friday.'),
        answerWith('Order 1042 ships Friday.'),
        answerWith('{"orderNumber": 1042, "day": "Friday"}'),
      );

      const execution = await runToTheEnd(
        user,
        {
          name: 'Shipping notice',
          steps: [
            {
              key: 'reply',
              type: 'ai',
              config: { operation: 'complete', system: 'Be brief.', prompt: 'Tell {{input.name}} when order {{input.order}} ships.' },
            },
            { key: 'digest', type: 'ai', config: { operation: 'summarize', text: '{{steps.reply.output.text}}', maxWords: 10 } },
            {
              key: 'facts',
              type: 'ai',
              config: {
                operation: 'extract',
                text: '{{steps.digest.output.summary}}',
                schema: {
                  type: 'object',
                  properties: { orderNumber: { type: 'integer' }, day: { type: 'string' } },
                  required: ['orderNumber', 'day'],
                },
              },
            },
          ],
        },
        { name: 'Ada', order: `1042-${randomUUID()}` },
      );

      expect(execution).toMatchObject({
        status: 'COMPLETED',
        output: expect.objectContaining({ data: { orderNumber: 1042, day: 'Friday' } }),
      });
      const outputs = outputsOf(execution);
      expect(outputs.reply).toMatchObject({ operation: 'complete', text: 'Dear Ada, your order 1042 ships on Friday.', promptName: null });
      expect(outputs.digest).toMatchObject({ operation: 'summarize', summary: 'Order 1042 ships Friday.', promptName: 'summarize' });
      // The summary step sent the completion's text on.
      expect(JSON.stringify(fake.requestsTo('openai').at(-2)?.body.messages)).toContain('Dear Ada, your order 1042 ships on Friday.');
    });

    it('fails a run at once, without retrying, when the ai service refuses the step’s input (BAD_USER_INPUT)', async () => {
      const user = await member();
      const execution = await runToTheEnd(
        user,
        {
          name: 'Triage with clashing labels',
          steps: [
            {
              key: 'triage',
              type: 'ai',
              config: { operation: 'classify', text: '{{input.message}}', labels: ['bug', '{{input.otherLabel}}'] },
              retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 },
            },
          ],
        },
        { message: 'It crashes', otherLabel: 'BUG' },
      );

      expect(execution).toMatchObject({
        status: 'FAILED',
        error: { stepKey: 'triage', message: expect.stringMatching(/^the ai service refused the request: "labels" must be distinct/) },
      });
      expect(execution?.stepRuns).toHaveLength(1);
    });

    it('fails an attempt retryably once the owner’s tenant is over its AI requests a minute (RATE_LIMITED)', async () => {
      const user = await member();
      const attempt = aiExecutor({ operation: 'complete', prompt: 'Say hello to {{input.name}}' });
      // The budget refills continuously, so a slow machine gets a request or two more than the limit before the refusal.
      let answered = 0;
      let failed: unknown;
      while (failed === undefined && answered <= 2 * REQUESTS_PER_MINUTE) {
        await attempt(attemptOf(user, { name: `caller ${answered}` })).then(
          () => (answered += 1),
          (error: unknown) => (failed = error),
        );
      }

      expect(answered).toBeGreaterThanOrEqual(REQUESTS_PER_MINUTE);
      expect(failed).toBeInstanceOf(StepError);
      expect(failed).toMatchObject({ retryable: true, details: { code: 'RATE_LIMITED' } });
      // The ai service says when its budget has room again; the engine waits at least that long before the next attempt.
      expect((failed as StepError).retryAfterMs).toBeGreaterThan(0);
    });

    it('fails an attempt retryably while every model is failing (SERVICE_UNAVAILABLE), and answers when it is retried', async () => {
      const user = await member();
      const attempt = aiExecutor({ operation: 'summarize', text: '{{input.text}}' });
      const context = attemptOf(user, { text: `A long report (${randomUUID()})` });

      fake.failAlways('openai', serverError);
      fake.failAlways('anthropic', serverError);
      const failed = await attempt(context).catch((error: unknown) => error);
      fake.recover('openai');
      fake.recover('anthropic');
      const retried = await attempt(context);

      expect(failed).toBeInstanceOf(StepError);
      expect(failed).toMatchObject({ retryable: true, details: { code: 'SERVICE_UNAVAILABLE' } });
      expect(retried).toMatchObject({ kind: 'completed', output: { operation: 'summarize', summary: expect.any(String) } });
    });
  });
});
