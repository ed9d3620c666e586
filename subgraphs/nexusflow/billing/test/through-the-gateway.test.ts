import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';
import { FakeStripe } from '../../../../test/support/fake-stripe.ts';

const PLANS = '{ plans { id monthlyPriceCents available limits { executionsPerMonth aiTokensPerMonth seats integrations } } }';
const SUBSCRIPTION = '{ subscription { status plan { id } cancelAtPeriodEnd pastDueSince limited hasPaymentMethod } }';
const SUBSCRIBE = `mutation ($planId: ID!) { subscribe(planId: $planId) {
  __typename ... on SubscriptionChanged { subscription { status plan { id } } } ... on PaymentMethodRequired { message } } }`;
const CHANGE = `mutation ($planId: ID!) { changePlan(planId: $planId) {
  __typename ... on SubscriptionChanged { subscription { status plan { id } } } ... on AlreadyOnPlan { message } } }`;
const CANCEL = `mutation ($atPeriodEnd: Boolean) { cancelSubscription(atPeriodEnd: $atPeriodEnd) {
  __typename ... on SubscriptionChanged { subscription { status cancelAtPeriodEnd } } } }`;
const ADD_PAYMENT_METHOD = 'mutation { addPaymentMethod { setupIntentId clientSecret } }';
const INVOICES = '{ invoices(first: 10) { status amountDueCents hostedInvoiceUrl pdfUrl } }';
const USAGE = '{ usage { meters { metric used limit exceeded } } }';
const NOTIFICATIONS = '{ notifications(first: 10) { title body } }';

/** Work the services do in the background (queues, the bus, the outbox) is waited for this long at most. */
const EVENTUALLY = { timeout: 15_000, interval: 50 };

describe.each(storageModes(['postgres', 'redis', 'amqp']))('the billing subgraph through the nexusflow gateway on $storage', ({ mode }) => {
  const stripe = new FakeStripe({
    secretKey: 'sk_test_gateway',
    webhookSecret: 'whsec_gateway_test',
    prices: { price_starter: { unitAmount: 2_900 }, price_pro: { unitAmount: 9_900 } },
  });
  let graph: GraphUnderTest;

  beforeAll(async () => {
    await stripe.start();
    graph = await startGraphUnderTest('nexusflow', ['notifications', 'billing'], {
      mode,
      label: 'billing_gateway',
      settings: { billing: { ...stripe.environment, STRIPE_PRICE_STARTER: 'price_starter', STRIPE_PRICE_PRO: 'price_pro' } },
    });
    stripe.webhookUrl = `${graph.subgraphs.billing!.url}/webhooks/stripe`;
  });

  afterAll(async () => {
    await stripe.close();
    await graph?.close();
  });

  const send = async (caller: { userId: string; tenantId: string; roles: Role[] }, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
      token: await graph.tokenFor({ kind: 'user', ...caller }),
      variables,
    });
  const data = async (caller: { userId: string; tenantId: string; roles: Role[] }, query: string, variables?: Record<string, unknown>) => {
    const response = await send(caller, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data!;
  };

  it('takes a tenant from a card to a paid plan, a cheaper one, a failed renewal with its warning, and a cancellation', async () => {
    const tenantId = randomUUID();
    const owner = { userId: randomUUID(), tenantId, roles: [Role.Owner] };
    const viewer = { userId: randomUUID(), tenantId, roles: [Role.Viewer] };

    const { plans } = await data(viewer, PLANS);
    expect((plans as { id: string; available: boolean }[]).filter((plan) => plan.available).map((plan) => plan.id)).toEqual([
      'FREE',
      'STARTER',
      'PRO',
    ]);
    expect((await data(owner, SUBSCRIBE, { planId: 'PRO' })).subscribe.__typename).toBe('PaymentMethodRequired');

    const { addPaymentMethod } = await data(owner, ADD_PAYMENT_METHOD);
    await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
    // The card is filed once Stripe's webhook is processed; until then the plan still asks for one, changing nothing.
    await expect
      .poll(async () => (await data(owner, SUBSCRIBE, { planId: 'PRO' })).subscribe, EVENTUALLY)
      .toEqual({ __typename: 'SubscriptionChanged', subscription: { status: 'ACTIVE', plan: { id: 'PRO' } } });

    const { changePlan } = await data(owner, CHANGE, { planId: 'STARTER' });
    expect(changePlan).toEqual({ __typename: 'SubscriptionChanged', subscription: { status: 'ACTIVE', plan: { id: 'STARTER' } } });
    expect((await data(owner, INVOICES)).invoices).toEqual([
      expect.objectContaining({ status: 'PAID', amountDueCents: 9_900, hostedInvoiceUrl: expect.stringContaining('/invoices/in_') }),
    ]);

    const subscriptionId = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === tenantId)!.id;
    await stripe.failRenewal(subscriptionId);
    await expect.poll(async () => (await data(viewer, SUBSCRIPTION)).subscription.status, EVENTUALLY).toBe('PAST_DUE');
    // The owner chose the plan, so the owner is warned, in the app, by the notifications service.
    await expect
      .poll(async () => (await data(owner, NOTIFICATIONS)).notifications, EVENTUALLY)
      .toEqual([expect.objectContaining({ title: 'Your NexusFlow payment failed', body: expect.stringContaining('STARTER plan failed') })]);

    // Stripe sending the failure again (a retry, or a replay) changes nothing and warns no one twice.
    const failed = stripe.events.findLast((event) => event.type === 'invoice.payment_failed')!;
    const replayed = await stripe.redeliver(failed.id);
    expect(JSON.parse(replayed.answer)).toEqual({ received: true, duplicate: true });

    const payload = JSON.stringify({ ...failed, id: `evt_${randomUUID()}` });
    const forged = await stripe.deliverRaw(payload, stripe.sign(payload, undefined, 'whsec_not_stripes'));
    expect(forged.status).toBe(400);

    expect((await data(viewer, USAGE)).usage.meters).toEqual([
      { metric: 'EXECUTIONS', used: 0, limit: 10000, exceeded: false },
      { metric: 'AI_TOKENS', used: 0, limit: 1000000, exceeded: false },
    ]);

    expect((await data(owner, CANCEL, {})).cancelSubscription).toEqual({
      __typename: 'SubscriptionChanged',
      subscription: { status: 'PAST_DUE', cancelAtPeriodEnd: true },
    });
    expect((await data(owner, CANCEL, { atPeriodEnd: false })).cancelSubscription.subscription.status).toBe('CANCELED');
    expect((await data(owner, NOTIFICATIONS)).notifications).toHaveLength(1);
  });

  it('gives two admins subscribing at the same moment one Stripe subscription between them, and each a typed answer', async () => {
    const tenantId = randomUUID();
    const owner = { userId: randomUUID(), tenantId, roles: [Role.Owner] };
    const admin = { userId: randomUUID(), tenantId, roles: [Role.Admin] };
    const { addPaymentMethod } = await data(owner, ADD_PAYMENT_METHOD);
    await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
    const cardFiled = async () =>
      (
        await systemFork(graph.subgraphs.billing!.database)
          .getConnection()
          .execute('select default_payment_method_id from billing_customers where tenant_id = ?', [tenantId])
      )[0]?.default_payment_method_id;
    await expect.poll(cardFiled, EVENTUALLY).toMatch(/^pm_/);

    const answers = await Promise.all([send(owner, SUBSCRIBE, { planId: 'PRO' }), send(admin, SUBSCRIBE, { planId: 'STARTER' })]);
    for (const answer of answers) expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
    // One of them subscribed, the other, coming second, changed the plan of that subscription.
    expect(answers.map((answer) => answer.data!.subscribe.__typename)).toEqual(['SubscriptionChanged', 'SubscriptionChanged']);
    const created = [...stripe.subscriptions.values()].filter((each) => each.metadata.tenantId === tenantId);
    expect(created).toHaveLength(1);
    expect(created[0]!.status).toBe('active');
    const { subscription } = await data(owner, SUBSCRIPTION);
    expect(subscription).toMatchObject({ status: 'ACTIVE', plan: { id: created[0]!.metadata.plan } });
    expect(`price_${(subscription.plan.id as string).toLowerCase()}`).toBe(created[0]!.items.data[0].price.id);
  });

  it('refuses a VIEWER every billing change with FORBIDDEN, and a request without a token with UNAUTHENTICATED', async () => {
    const viewer = { userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Viewer] };
    for (const [query, variables] of [
      [SUBSCRIBE, { planId: 'FREE' }],
      [CHANGE, { planId: 'FREE' }],
      [CANCEL, {}],
      [ADD_PAYMENT_METHOD, {}],
    ] as const) {
      expect((await send(viewer, query, variables)).errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    }
    const anonymous = await postGraphQL(graph.gateway.graphqlUrl, SUBSCRIPTION);
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});
