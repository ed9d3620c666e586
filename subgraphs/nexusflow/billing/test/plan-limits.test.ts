import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';
import { signatureHeader } from '../../workflows/src/triggers/webhook-signing.ts';
import { monthOf } from '../src/domain/usage.ts';
import type { WorkflowServices } from '../../workflows/src/context.ts';
import { FakeStripe } from '../../../../test/support/fake-stripe.ts';

const CREATE_WORKFLOW = 'mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }';
const RUN = `mutation ($id: ID!) { runWorkflow(id: $id) {
  __typename ... on Execution { id } ... on QuotaExceeded { message used limit } } }`;
const SUBSCRIBE = 'mutation ($planId: ID!) { subscribe(planId: $planId) { __typename } }';
const ADD_PAYMENT_METHOD = 'mutation { addPaymentMethod { setupIntentId } }';
const CANCEL_EXECUTION = 'mutation ($id: ID!) { cancelExecution(id: $id) { __typename ... on Execution { status } } }';
const RETRY_EXECUTION = `mutation ($id: ID!) { retryExecution(id: $id) {
  __typename ... on Execution { status } ... on QuotaExceeded { message used limit } } }`;
const EXECUTIONS_USED = '{ usage { meters { metric used } } }';
const CREATE_TRIGGERED = `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) {
  __typename ... on Workflow { id webhook { url secret } } } }`;
const RUNS = `query ($id: ID!) { workflow(id: $id) {
  executions(first: 10) { edges { node { id status input error { message } startedAt finishedAt stepRuns { stepKey } } } } } }`;

/** Billing's answers reach the workflows service through the bus and its cache: waited for this long at most. */
const EVENTUALLY = { timeout: 15_000, interval: 50 };

describe.each(storageModes(['postgres', 'redis', 'amqp']))('plan limits across the graph on $storage', ({ mode }) => {
  const stripe = new FakeStripe({
    secretKey: 'sk_test_limits',
    webhookSecret: 'whsec_limits_test',
    prices: { price_pro: { unitAmount: 9_900 } },
  });
  let graph: GraphUnderTest;

  beforeAll(async () => {
    await stripe.start();
    graph = await startGraphUnderTest('nexusflow', ['billing', 'workflows'], {
      mode,
      label: 'billing_limits',
      settings: { billing: { ...stripe.environment, STRIPE_PRICE_PRO: 'price_pro' } },
    });
    stripe.webhookUrl = `${graph.subgraphs.billing!.url}/webhooks/stripe`;
  });

  afterAll(async () => {
    await stripe.close();
    await graph?.close();
  });

  const data = async (caller: { userId: string; tenantId: string; roles: Role[] }, query: string, variables?: Record<string, unknown>) => {
    const response = await postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
      token: await graph.tokenFor({ kind: 'user', ...caller }),
      variables,
    });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data!;
  };

  /** A tenant that already started `executions` runs this month, as billing counted them from the workflows' events. */
  async function alreadyRan(tenantId: string, executions: number): Promise<void> {
    const billing = graph.subgraphs.billing as RunningSubgraph<unknown>;
    await systemFork(billing.database)
      .getConnection()
      .execute(
        `insert into "usage_counters" ("id", "created_at", "tenant_id", "period_start", "executions", "ai_tokens")
         values (?, now(), ?, ?::timestamptz, ?, 0)`,
        [randomUUID(), tenantId, monthOf(Date.now()).start.toISOString(), executions],
      );
  }

  it('answers runWorkflow QuotaExceeded once the month’s runs reach the plan’s limit, and runs again after an upgrade', async () => {
    const tenantId = randomUUID();
    const owner = { userId: randomUUID(), tenantId, roles: [Role.Owner] };
    expect((await data(owner, SUBSCRIBE, { planId: 'FREE' })).subscribe.__typename).toBe('SubscriptionChanged');
    const { createWorkflow } = await data(owner, CREATE_WORKFLOW, {
      input: { name: 'Counted', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] },
    });
    await alreadyRan(tenantId, 999);

    expect((await data(owner, RUN, { id: createWorkflow.id })).runWorkflow.__typename).toBe('Execution');
    expect((await data(owner, RUN, { id: createWorkflow.id })).runWorkflow).toEqual({
      __typename: 'QuotaExceeded',
      message: 'Your plan allows 1000 runs a month, and 1000 were started this month',
      used: 1000,
      limit: 1000,
    });
    // Another tenant's runs are counted apart.
    const stranger = { userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Member] };
    const theirs = (
      await data(stranger, CREATE_WORKFLOW, {
        input: { name: 'Theirs', steps: [{ key: 'done', type: 'transform', config: { template: {} } }] },
      })
    ).createWorkflow;
    expect((await data(stranger, RUN, { id: theirs.id })).runWorkflow.__typename).toBe('Execution');

    const { addPaymentMethod } = await data(owner, ADD_PAYMENT_METHOD);
    await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
    // Once billing filed the card, the upgrade goes through; its billing.subscription.changed makes workflows ask again.
    await expect
      .poll(async () => (await data(owner, SUBSCRIBE, { planId: 'PRO' })).subscribe.__typename, EVENTUALLY)
      .toBe('SubscriptionChanged');
    await expect.poll(async () => (await data(owner, RUN, { id: createWorkflow.id })).runWorkflow.__typename, EVENTUALLY).toBe('Execution');
  });

  it('records the runs an event or a webhook would start beyond the quota as failed, not started, and once per trigger', async () => {
    const tenantId = randomUUID();
    const owner = { userId: randomUUID(), tenantId, roles: [Role.Owner] };
    const { createWorkflow: workflow } = await data(owner, CREATE_TRIGGERED, {
      input: {
        name: 'Triggered',
        steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }],
        triggers: [{ type: 'EVENT', eventType: 'crm.contact.created' }, { type: 'WEBHOOK' }],
      },
    });
    expect(workflow.__typename).toBe('Workflow');
    await alreadyRan(tenantId, 1000);
    const runs = async () =>
      ((await data(owner, RUNS, { id: workflow.id })).workflow.executions.edges as { node: any }[]).map(({ node }) => node);
    const refused = {
      status: 'FAILED',
      error: { message: 'Not started: Your plan allows 1000 runs a month, and 1000 were started this month' },
      startedAt: null,
      finishedAt: expect.any(String),
      stepRuns: [],
    };

    const event = { id: randomUUID(), type: 'crm.contact.created', occurredAt: new Date().toISOString(), tenantId, payload: { n: 1 } };
    await graph.subgraphs.workflows!.eventBus.publish(event);
    await expect
      .poll(runs, EVENTUALLY)
      .toEqual([expect.objectContaining({ ...refused, input: expect.objectContaining({ id: event.id }) })]);
    // Delivered again, the event finds its refusal recorded: nothing more.
    const workflows = graph.subgraphs.workflows as RunningSubgraph<WorkflowServices>;
    expect(await workflows.services.eventTriggers.handle(event)).toEqual([]);

    const body = JSON.stringify({ order: 42 });
    const deliveryId = randomUUID();
    const delivered = await fetch(`${graph.subgraphs.workflows!.url}${new URL(workflow.webhook.url).pathname}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-nexusflow-delivery': deliveryId,
        'x-nexusflow-signature': signatureHeader(workflow.webhook.secret, Math.floor(Date.now() / 1000), deliveryId, body),
      },
      body,
    });
    expect(delivered.status).toBe(200);
    const { executionId } = (await delivered.json()) as { executionId: string };
    const all = await runs();
    expect(all).toHaveLength(2);
    expect(all.find((run) => run.id === executionId)).toEqual({ id: executionId, input: { order: 42 }, ...refused });
  });

  it('counts a retried run as a new execution, and answers retryExecution QuotaExceeded once the month’s runs reach the limit', async () => {
    const tenantId = randomUUID();
    const owner = { userId: randomUUID(), tenantId, roles: [Role.Owner] };
    const { createWorkflow: workflow } = await data(owner, CREATE_WORKFLOW, {
      input: { name: 'Waits', steps: [{ key: 'pause', type: 'delay', config: { durationMs: 3_600_000 } }] },
    });
    await alreadyRan(tenantId, 998);
    const { runWorkflow: run } = await data(owner, RUN, { id: workflow.id });
    expect(run.__typename).toBe('Execution');
    expect((await data(owner, CANCEL_EXECUTION, { id: run.id })).cancelExecution).toEqual({ __typename: 'Execution', status: 'CANCELLED' });

    expect((await data(owner, RETRY_EXECUTION, { id: run.id })).retryExecution).toEqual({ __typename: 'Execution', status: 'RUNNING' });
    // The run and its retry are two executions in billing's count, as its workflow.execution.started events say.
    const executionsUsed = async () =>
      ((await data(owner, EXECUTIONS_USED)).usage.meters as { metric: string; used: number }[]).find(
        (meter) => meter.metric === 'EXECUTIONS',
      )!.used;
    await expect.poll(executionsUsed, EVENTUALLY).toBe(1000);

    expect((await data(owner, CANCEL_EXECUTION, { id: run.id })).cancelExecution.status).toBe('CANCELLED');
    expect((await data(owner, RETRY_EXECUTION, { id: run.id })).retryExecution).toEqual({
      __typename: 'QuotaExceeded',
      message: 'Your plan allows 1000 runs a month, and 1000 were started this month',
      used: 1000,
      limit: 1000,
    });
    const { workflow: after } = await data(owner, RUNS, { id: workflow.id });
    const edges = after.executions.edges as { node: { status: string } }[];
    expect(edges.map(({ node }) => node.status)).toEqual(['CANCELLED']);
    expect(await executionsUsed()).toBe(1000);
  });
});
