import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';
import { monthOf } from '../src/domain/usage.ts';
import { FakeStripe } from './support/fake-stripe.ts';

const CREATE_WORKFLOW = 'mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { __typename ... on Workflow { id } } }';
const RUN = `mutation ($id: ID!) { runWorkflow(id: $id) {
  __typename ... on Execution { id } ... on QuotaExceeded { message used limit } } }`;
const SUBSCRIBE = 'mutation ($planId: ID!) { subscribe(planId: $planId) { __typename } }';
const ADD_PAYMENT_METHOD = 'mutation { addPaymentMethod { setupIntentId } }';

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
});
