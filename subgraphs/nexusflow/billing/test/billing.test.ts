import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type DomainEvent } from '@nexusflow/kit';
import { startSubgraphUnderTest, storageModes } from '@nexusflow/kit/testing';
import { PAYMENT_PAST_DUE } from '../src/webhooks/stripe-events.ts';
import { subgraph } from '../src/subgraph.ts';
import { startBillingUnderTest, callerOf, type BillingUnderTest } from './support/billing-under-test.ts';
import { FakeStripe } from '../../../../test/support/fake-stripe.ts';

const PRICES = { price_starter: { unitAmount: 2_900 }, price_pro: { unitAmount: 9_900 }, price_enterprise: { unitAmount: 49_900 } };
const STRIPE_PRICES = { STRIPE_PRICE_STARTER: 'price_starter', STRIPE_PRICE_PRO: 'price_pro', STRIPE_PRICE_ENTERPRISE: 'price_enterprise' };
const DAY_MS = 24 * 60 * 60 * 1000;

const SUBSCRIPTION_FIELDS = `id status cancelAtPeriodEnd canceledAt currentPeriodStart currentPeriodEnd pastDueSince limited hasPaymentMethod
  plan { id tier } effectiveLimits { executionsPerMonth aiTokensPerMonth seats integrations }`;
const RESULT = `__typename
  ... on SubscriptionChanged { subscription { ${SUBSCRIPTION_FIELDS} } }
  ... on PlanNotFound { message planId }
  ... on PaymentMethodRequired { message }
  ... on AlreadyOnPlan { message plan { id } }`;
const PLANS =
  '{ plans { id tier name monthlyPriceCents currency available limits { executionsPerMonth aiTokensPerMonth seats integrations } } }';
const SUBSCRIPTION = `{ subscription { ${SUBSCRIPTION_FIELDS} } }`;
const SUBSCRIBE = `mutation ($planId: ID!) { subscribe(planId: $planId) { ${RESULT} } }`;
const CHANGE = `mutation ($planId: ID!) { changePlan(planId: $planId) { ${RESULT} ... on NoSubscription { message } } }`;
const CANCEL = `mutation ($atPeriodEnd: Boolean) { cancelSubscription(atPeriodEnd: $atPeriodEnd) {
  __typename ... on SubscriptionChanged { subscription { ${SUBSCRIPTION_FIELDS} } } ... on NoSubscription { message } } }`;
const ADD_PAYMENT_METHOD = 'mutation { addPaymentMethod { setupIntentId clientSecret } }';
const INVOICES = '{ invoices { id number status amountDueCents amountPaidCents currency hostedInvoiceUrl pdfUrl createdAt } }';
const USAGE = '{ usage { periodStart periodEnd meters { metric used limit exceeded } } }';

/** Work the services do in the background (queues, the bus, the outbox) is waited for this long at most. */
const EVENTUALLY = { timeout: 15_000, interval: 50 };

describe('the billing subgraph', () => {
  describe.each(storageModes(['postgres', 'amqp']))('with Stripe, on $storage', ({ mode }) => {
    const clock = { now: Date.now() };
    const stripe = new FakeStripe({
      secretKey: 'sk_test_billing',
      webhookSecret: 'whsec_billing_test',
      prices: PRICES,
      now: () => Math.floor(clock.now / 1000),
    });
    let under: BillingUnderTest;

    beforeAll(async () => {
      await stripe.start();
      under = await startBillingUnderTest(
        mode,
        'behaviour',
        { ...stripe.environment, ...STRIPE_PRICES, BILLING_PAST_DUE_GRACE_DAYS: '3' },
        clock,
      );
      stripe.webhookUrl = under.webhookUrl;
    });

    afterAll(async () => {
      await stripe.close();
      await under?.close();
    });

    /** Stripe's deliveries so far answered, and what they recorded processed and published. */
    const settled = async () => {
      await stripe.settled();
      await under.settled();
    };

    /** A tenant whose OWNER filed a card through the SetupIntent flow. */
    async function withCard(): Promise<ReturnType<typeof callerOf>> {
      const owner = callerOf(randomUUID(), [Role.Owner]);
      const { addPaymentMethod } = await under.answer(owner, ADD_PAYMENT_METHOD);
      await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
      await settled();
      return owner;
    }

    it('lists the catalogue from the cheapest plan, with prices, limits and whether each can be had', async () => {
      const { plans } = await under.answer(callerOf(randomUUID(), [Role.Viewer]), PLANS);
      expect((plans as { id: string }[]).map((plan) => plan.id)).toEqual(['FREE', 'STARTER', 'PRO', 'ENTERPRISE']);
      expect(plans[0]).toEqual({
        id: 'FREE',
        tier: 'FREE',
        name: 'Free',
        monthlyPriceCents: 0,
        currency: 'usd',
        available: true,
        limits: { executionsPerMonth: 1000, aiTokensPerMonth: 100000, seats: 3, integrations: 2 },
      });
      expect(plans[3]).toMatchObject({ id: 'ENTERPRISE', available: true, limits: { executionsPerMonth: null, seats: null } });
    });

    it('subscribes a tenant to the free plan without Stripe, and refuses it again as AlreadyOnPlan', async () => {
      const owner = callerOf(randomUUID(), [Role.Owner]);
      expect((await under.answer(owner, SUBSCRIPTION)).subscription).toBeNull();
      const { subscribe } = await under.answer(owner, SUBSCRIBE, { planId: 'FREE' });
      expect(subscribe).toMatchObject({ __typename: 'SubscriptionChanged', subscription: { status: 'ACTIVE', plan: { id: 'FREE' } } });
      expect((await under.answer(owner, SUBSCRIBE, { planId: 'FREE' })).subscribe).toMatchObject({
        __typename: 'AlreadyOnPlan',
        plan: { id: 'FREE' },
      });
      expect(stripe.requests.filter((request) => request.params.metadata?.tenantId === owner.tenantId)).toEqual([]);
    });

    it('asks for a payment method before a paid plan, and takes one through the SetupIntent flow and its webhook', async () => {
      const owner = callerOf(randomUUID(), [Role.Owner]);
      const refused = (await under.answer(owner, SUBSCRIBE, { planId: 'PRO' })).subscribe;
      expect(refused.__typename).toBe('PaymentMethodRequired');
      const { addPaymentMethod } = await under.answer(owner, ADD_PAYMENT_METHOD);
      expect(addPaymentMethod.clientSecret).toMatch(new RegExp(`^${addPaymentMethod.setupIntentId}_secret_`));
      await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
      await settled();
      const again = await under.answer(owner, ADD_PAYMENT_METHOD);
      expect(again.addPaymentMethod.setupIntentId).not.toBe(addPaymentMethod.setupIntentId);
      // One Stripe customer per tenant, however many operations needed it.
      const customers = [...stripe.customers.values()].filter((customer) => customer.metadata.tenantId === owner.tenantId);
      expect(customers).toHaveLength(1);
      const [row] = await under.rows('select default_payment_method_id from billing_customers where tenant_id = ?', [owner.tenantId]);
      expect(row!.default_payment_method_id).toMatch(/^pm_/);
    });

    it('makes one Stripe customer for a tenant whose two admins add a card at the same moment', async () => {
      const tenantId = randomUUID();
      const [first, second] = await Promise.all(
        [Role.Owner, Role.Admin].map((role) => under.answer(callerOf(tenantId, [role]), ADD_PAYMENT_METHOD)),
      );
      expect(first!.addPaymentMethod.setupIntentId).not.toBe(second!.addPaymentMethod.setupIntentId);
      expect([...stripe.customers.values()].filter((customer) => customer.metadata.tenantId === tenantId)).toHaveLength(1);
      expect(await under.rows('select stripe_customer_id from billing_customers where tenant_id = ?', [tenantId])).toHaveLength(1);
      const intents = [first!, second!].map(({ addPaymentMethod }) => stripe.setupIntents.get(addPaymentMethod.setupIntentId)!);
      expect(intents[0]!.customer).toBe(intents[1]!.customer);
    });

    it('subscribes to a paid plan in Stripe, charged to the card filed, with the period Stripe bills', async () => {
      const owner = await withCard();
      const { subscribe } = await under.answer(owner, SUBSCRIBE, { planId: 'PRO' });
      expect(subscribe).toMatchObject({
        __typename: 'SubscriptionChanged',
        subscription: { status: 'ACTIVE', plan: { id: 'PRO' }, hasPaymentMethod: true, cancelAtPeriodEnd: false, limited: false },
      });
      expect(Date.parse(subscribe.subscription.currentPeriodEnd) - Date.parse(subscribe.subscription.currentPeriodStart)).toBe(30 * DAY_MS);
      const created = stripe.requests.filter((request) => request.method === 'POST' && request.path === '/v1/subscriptions').at(-1)!;
      expect(created.params).toMatchObject({ items: [{ price: 'price_pro' }], metadata: { tenantId: owner.tenantId, plan: 'PRO' } });
      expect(created.idempotencyKey).toBe(`subscribe-${owner.tenantId}-PRO-0`);
      expect((await under.answer(owner, SUBSCRIBE, { planId: 'PRO' })).subscribe.__typename).toBe('AlreadyOnPlan');
      await settled();
      const { invoices } = await under.answer(owner, INVOICES);
      expect(invoices).toEqual([
        expect.objectContaining({
          status: 'PAID',
          amountDueCents: 9_900,
          amountPaidCents: 9_900,
          currency: 'usd',
          hostedInvoiceUrl: expect.stringMatching(/\/invoices\/in_/),
          pdfUrl: expect.stringMatching(/\/invoices\/in_\w+\/pdf$/),
        }),
      ]);
    });

    it('refuses a paid plan whose first payment the card declines, and keeps the tenant on the free plan limits', async () => {
      const owner = callerOf(randomUUID(), [Role.Owner]);
      const { addPaymentMethod } = await under.answer(owner, ADD_PAYMENT_METHOD);
      await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId, '0002');
      await settled();

      const refused = await under.ask(owner, SUBSCRIBE, { planId: 'ENTERPRISE' });
      expect(refused.errors?.[0]).toMatchObject({
        message: 'The card was declined: Your card was declined.',
        extensions: { code: 'BAD_USER_INPUT', field: 'paymentMethod' },
      });
      await settled();
      expect((await under.answer(owner, SUBSCRIPTION)).subscription).toBeNull();
      expect((await under.answer(owner, USAGE)).usage.meters[0]).toMatchObject({ metric: 'EXECUTIONS', limit: 1000 });
      expect([...stripe.subscriptions.values()].filter((each) => each.metadata.tenantId === owner.tenantId)).toEqual([]);
    });

    it('changes a paid plan in place, with prorations for the rest of the period, and answers unknown plans as PlanNotFound', async () => {
      const owner = await withCard();
      const { subscription } = (await under.answer(owner, SUBSCRIBE, { planId: 'PRO' })).subscribe;
      clock.now += 15 * DAY_MS;
      const { changePlan } = await under.answer(owner, CHANGE, { planId: 'STARTER' });
      expect(changePlan).toMatchObject({
        __typename: 'SubscriptionChanged',
        subscription: { id: subscription.id, plan: { id: 'STARTER' } },
      });
      const stripeSubscription = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!;
      expect(stripeSubscription.items.data[0].price.id).toBe('price_starter');
      const prorations = [...stripe.invoiceItems.values()].filter((item) => item.subscription === stripeSubscription.id);
      expect(prorations.map((item) => item.amount)).toEqual([-4_950, 1_450]);
      expect((await under.answer(owner, CHANGE, { planId: 'GOLD' })).changePlan).toEqual({
        __typename: 'PlanNotFound',
        message: 'No plan has the id "GOLD"',
        planId: 'GOLD',
      });
      const stranger = callerOf(randomUUID(), [Role.Owner]);
      expect((await under.answer(stranger, CHANGE, { planId: 'PRO' })).changePlan.__typename).toBe('NoSubscription');
      await settled();
      expect((await under.answer(owner, SUBSCRIPTION)).subscription).toMatchObject({ status: 'ACTIVE', plan: { id: 'STARTER' } });
    });

    it('cancels at the period end, then at once, and back on the free plan limits', async () => {
      const owner = await withCard();
      await under.answer(owner, SUBSCRIBE, { planId: 'STARTER' });
      const atEnd = (await under.answer(owner, CANCEL, {})).cancelSubscription;
      expect(atEnd).toMatchObject({ __typename: 'SubscriptionChanged', subscription: { status: 'ACTIVE', cancelAtPeriodEnd: true } });
      const now = (await under.answer(owner, CANCEL, { atPeriodEnd: false })).cancelSubscription;
      expect(now.subscription).toMatchObject({ status: 'CANCELED', effectiveLimits: { executionsPerMonth: 1000 } });
      expect((await under.answer(owner, CANCEL, {})).cancelSubscription.__typename).toBe('NoSubscription');
      await settled();
      const stripeSubscription = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!;
      expect(stripeSubscription.status).toBe('canceled');
      expect((await under.answer(owner, SUBSCRIPTION)).subscription.status).toBe('CANCELED');
    });

    it('cancels at the period end again after a plan change took the first cancellation back', async () => {
      const owner = await withCard();
      await under.answer(owner, SUBSCRIBE, { planId: 'STARTER' });
      const stripeSubscription = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!;
      expect((await under.answer(owner, CANCEL, {})).cancelSubscription.subscription.cancelAtPeriodEnd).toBe(true);
      const { changePlan } = await under.answer(owner, CHANGE, { planId: 'PRO' });
      expect(changePlan.subscription).toMatchObject({ cancelAtPeriodEnd: false, plan: { id: 'PRO' } });
      expect(stripeSubscription.cancel_at_period_end).toBe(false);

      // Within the day Stripe replays an idempotency key's first answer: the second cancellation is a request of its own.
      const again = (await under.answer(owner, CANCEL, {})).cancelSubscription;
      expect(again.subscription).toMatchObject({ cancelAtPeriodEnd: true, plan: { id: 'PRO' } });
      expect(stripeSubscription).toMatchObject({ cancel_at_period_end: true, items: { data: [{ price: { id: 'price_pro' } }] } });
      await settled();
      expect((await under.answer(owner, SUBSCRIPTION)).subscription).toMatchObject({ cancelAtPeriodEnd: true, plan: { id: 'PRO' } });
    });

    it('charges a subscription to the card added last: the customer’s default and the subscription’s follow it', async () => {
      const owner = await withCard();
      await under.answer(owner, SUBSCRIBE, { planId: 'PRO' });
      await settled();
      const stripeSubscription = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!;
      const firstCard = stripeSubscription.default_payment_method;
      expect(firstCard).toMatch(/^pm_/);

      const { addPaymentMethod } = await under.answer(owner, ADD_PAYMENT_METHOD);
      const newCard = (await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId, '5555')).payment_method;
      await settled();
      expect(newCard).not.toBe(firstCard);
      expect(stripeSubscription.default_payment_method).toBe(newCard);
      expect(stripe.customers.get(stripeSubscription.customer)!.invoice_settings.default_payment_method).toBe(newCard);
      const [row] = await under.rows('select default_payment_method_id from billing_customers where tenant_id = ?', [owner.tenantId]);
      expect(row!.default_payment_method_id).toBe(newCard);
      const renewal = await stripe.renew(stripeSubscription.id);
      expect(stripe.charges.at(-1)).toEqual({ invoice: renewal.id, paymentMethod: newCard, amount: 9_900 });
    });

    // On the embedded database one transaction runs at a time, so two consumers cannot overlap there.
    it.skipIf(mode === 'embedded')(
      'leaves a subscription as Stripe last changed it when two consumers process its events at once, the older one first (PostgreSQL only: the embedded database runs one transaction at a time)',
      async () => {
        const owner = await withCard();
        await under.answer(owner, SUBSCRIBE, { planId: 'PRO' });
        await settled();
        const stripeSubscription = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!;
        const recorded = async () => {
          const id = `evt_${randomUUID().replace(/-/g, '')}`;
          const event = { id, object: 'event', type: 'customer.subscription.updated', data: { object: stripeSubscription } };
          await under.rows(
            `insert into stripe_events (id, type, payload, received_at, processed_at) values (?, ?, ?::jsonb, now(), null)`,
            [id, event.type, JSON.stringify(event)],
          );
          return id;
        };
        const [older, newer] = [await recorded(), await recorded()];
        const { webhooks } = under.subgraph.services;

        // The first consumer's read of the subscription is slow to come back; meanwhile the renewal fails in Stripe.
        const slowRead = stripe.holdAnswer(`/v1/subscriptions/${stripeSubscription.id}`);
        const first = webhooks.process({ id: older });
        await slowRead.arrived;
        stripeSubscription.status = 'past_due';
        let secondDone = false;
        const second = webhooks.process({ id: newer }).finally(() => (secondDone = true));
        // The second consumer either is done, or waits for the first to finish with the row.
        while (!secondDone) {
          const [waiting] = await under.rows(
            `select count(*) as count from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
          );
          if (Number(waiting!.count) > 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        slowRead.release();
        await Promise.all([first, second]);

        const [row] = await under.rows('select status from billing_subscriptions where tenant_id = ?', [owner.tenantId]);
        expect(row!.status).toBe('PAST_DUE');
      },
    );

    it('refuses a delivery whose signature does not verify, and processes a replayed one once', async () => {
      const owner = await withCard();
      const payload = JSON.stringify({ id: 'evt_forged', object: 'event', type: 'invoice.paid', data: { object: {} } });
      const forged = await stripe.deliverRaw(payload, stripe.sign(payload, undefined, 'whsec_someone_else'));
      expect(forged.status).toBe(400);
      expect(JSON.parse(forged.answer)).toEqual({
        errors: [{ message: 'The Stripe-Signature does not verify', extensions: { code: 'BAD_REQUEST' } }],
      });
      const stale = await stripe.deliverRaw(payload, stripe.sign(payload, Math.floor(Date.now() / 1000) - 3600));
      expect(stale.status).toBe(400);
      expect(await under.rows(`select id from stripe_events where id = 'evt_forged'`)).toEqual([]);

      await under.answer(owner, SUBSCRIBE, { planId: 'PRO' });
      await settled();
      const subscriptionId = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!.id;
      await stripe.failRenewal(subscriptionId);
      await settled();
      const failed = stripe.events.findLast((event) => event.type === 'invoice.payment_failed')!;
      const replay = await stripe.redeliver(failed.id);
      expect(replay.status).toBe(200);
      expect(JSON.parse(replay.answer)).toEqual({ received: true, duplicate: true });
      await settled();
      const warnings = await under.rows(`select payload from outbox_events where type = ? and tenant_id = ?`, [
        PAYMENT_PAST_DUE,
        owner.tenantId,
      ]);
      expect(warnings).toHaveLength(1);
    });

    it('marks a tenant whose renewal failed past due, warns its billing contact once, and limits it after the grace period', async () => {
      const owner = await withCard();
      await under.answer(owner, SUBSCRIBE, { planId: 'PRO' });
      await settled();
      const subscriptionId = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!.id;
      const published: DomainEvent[] = [];
      const listener = await under.subgraph.eventBus.subscribe(
        { queue: `billing-test-warnings-${randomUUID()}`, bindings: [PAYMENT_PAST_DUE] },
        async (event) => {
          if (event.tenantId === owner.tenantId) published.push(event);
        },
      );
      try {
        const invoice = await stripe.failRenewal(subscriptionId);
        await settled();
        const { subscription } = await under.answer(owner, SUBSCRIPTION);
        expect(subscription).toMatchObject({ status: 'PAST_DUE', limited: false, effectiveLimits: { executionsPerMonth: 100000 } });
        await expect.poll(() => published, EVENTUALLY).toHaveLength(1);
        expect(published[0]!.payload).toMatchObject({ userId: owner.userId, plan: 'PRO', invoiceUrl: invoice.hosted_invoice_url });

        clock.now += 3 * DAY_MS;
        expect((await under.answer(owner, SUBSCRIPTION)).subscription).toMatchObject({
          status: 'PAST_DUE',
          limited: true,
          effectiveLimits: { executionsPerMonth: 1000 },
        });
        expect((await under.answer(owner, USAGE)).usage.meters[0]).toMatchObject({ metric: 'EXECUTIONS', limit: 1000 });

        await stripe.payOpenInvoice(subscriptionId);
        await settled();
        expect((await under.answer(owner, SUBSCRIPTION)).subscription).toMatchObject({
          status: 'ACTIVE',
          limited: false,
          pastDueSince: null,
        });
        expect(published).toHaveLength(1);
      } finally {
        await listener.stop();
      }
    });

    it('starts the grace period and warns once when a plan change copied PAST_DUE from Stripe before the webhook came', async () => {
      const owner = await withCard();
      await under.answer(owner, SUBSCRIBE, { planId: 'PRO' });
      await settled();
      const subscriptionId = [...stripe.subscriptions.values()].find((each) => each.metadata.tenantId === owner.tenantId)!.id;
      const published: DomainEvent[] = [];
      const listener = await under.subgraph.eventBus.subscribe(
        { queue: `billing-test-late-warnings-${randomUUID()}`, bindings: [PAYMENT_PAST_DUE] },
        async (event) => {
          if (event.tenantId === owner.tenantId) published.push(event);
        },
      );
      try {
        // Stripe's deliveries of the failed renewal are late: billing was down when Stripe first sent them.
        const webhookUrl = stripe.webhookUrl;
        const sent = stripe.events.length;
        stripe.webhookUrl = undefined;
        try {
          await stripe.failRenewal(subscriptionId);
        } finally {
          stripe.webhookUrl = webhookUrl;
        }
        const late = stripe.events.slice(sent);
        expect((await under.answer(owner, CHANGE, { planId: 'STARTER' })).changePlan.subscription).toMatchObject({ status: 'PAST_DUE' });

        for (const event of late) await stripe.redeliver(event.id);
        await settled();
        expect((await under.answer(owner, SUBSCRIPTION)).subscription).toMatchObject({ status: 'PAST_DUE', limited: false });
        await expect.poll(() => published, EVENTUALLY).toHaveLength(1);
        clock.now += 3 * DAY_MS;
        expect((await under.answer(owner, SUBSCRIPTION)).subscription).toMatchObject({
          limited: true,
          effectiveLimits: { executionsPerMonth: 1000 },
        });
      } finally {
        await listener.stop();
      }
    });

    it('counts executions and AI tokens from the bus once per event, against the plan limits of the month', async () => {
      const owner = callerOf(randomUUID(), [Role.Owner]);
      const occurredAt = new Date(clock.now).toISOString();
      const started = {
        id: randomUUID(),
        type: 'workflow.execution.started',
        occurredAt,
        tenantId: owner.tenantId,
        payload: { tenantId: owner.tenantId },
      };
      const tokens = {
        id: randomUUID(),
        type: 'ai.usage.recorded',
        occurredAt,
        tenantId: owner.tenantId,
        payload: { inputTokens: 1200, outputTokens: 300 },
      };
      for (const event of [started, started, { ...started, id: randomUUID() }, tokens, tokens])
        await under.subgraph.eventBus.publish(event);
      const viewer = callerOf(owner.tenantId, [Role.Viewer]);
      const meters = async () => (await under.answer(viewer, USAGE)).usage.meters as { used: number }[];
      await expect.poll(async () => (await meters()).map((meter) => meter.used), EVENTUALLY).toEqual([2, 1500]);
      const { usage } = await under.answer(viewer, USAGE);
      expect(usage.meters).toEqual([
        { metric: 'EXECUTIONS', used: 2, limit: 1000, exceeded: false },
        { metric: 'AI_TOKENS', used: 1500, limit: 100000, exceeded: false },
      ]);
      expect(new Date(usage.periodStart).getUTCDate()).toBe(1);
    });

    it("counts an event delivered twice at the same moment once, and every one of a tenant's concurrent events", async () => {
      const owner = callerOf(randomUUID(), [Role.Owner]);
      const started = (id: string = randomUUID()) => ({
        id,
        type: 'workflow.execution.started',
        occurredAt: new Date(clock.now).toISOString(),
        tenantId: owner.tenantId,
        payload: { tenantId: owner.tenantId },
      });
      const twice = started();

      const counted = await Promise.all(
        [twice, twice, ...Array.from({ length: 8 }, () => started())].map((event) => under.subgraph.services.usage.count(event)),
      );

      expect(counted.slice(0, 2).sort()).toEqual([false, true]);
      expect(counted.filter(Boolean)).toHaveLength(9);
      const { usage } = await under.answer(callerOf(owner.tenantId, [Role.Viewer]), USAGE);
      expect(usage.meters[0]).toMatchObject({ metric: 'EXECUTIONS', used: 9 });
    });

    it('refuses a VIEWER and a MEMBER every change, and an anonymous caller everything, touching nothing in Stripe', async () => {
      const before = stripe.requests.length;
      for (const role of [Role.Viewer, Role.Member]) {
        const caller = callerOf(randomUUID(), [role]);
        for (const [query, variables] of [
          [SUBSCRIBE, { planId: 'PRO' }],
          [CHANGE, { planId: 'PRO' }],
          [CANCEL, {}],
          [ADD_PAYMENT_METHOD, {}],
          [INVOICES, {}],
        ] as const) {
          expect((await under.ask(caller, query, variables)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        }
      }
      expect((await under.ask({ kind: 'anonymous' }, USAGE)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(stripe.requests.length).toBe(before);
    });
  });

  describe('without Stripe configured', () => {
    let under: Awaited<ReturnType<typeof startSubgraphUnderTest<unknown>>>;

    beforeAll(async () => {
      under = await startSubgraphUnderTest('billing-no-stripe', (env) => subgraph.start(env));
    });

    afterAll(async () => {
      await under?.close();
    });

    it('offers the free plan only, and answers paid operations SERVICE_UNAVAILABLE without naming the deployment settings', async () => {
      const owner = callerOf(randomUUID(), [Role.Owner]);
      const plans = (await under.ask<{ plans: { id: string; available: boolean }[] }>(owner, '{ plans { id available } }')).data!.plans;
      expect(plans.filter((plan) => plan.available).map((plan) => plan.id)).toEqual(['FREE']);
      const paid = await under.ask(owner, SUBSCRIBE, { planId: 'PRO' });
      expect(paid.errors?.[0]).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
      // The setting that would turn payments on is the operator's to read, in the log at start.
      expect(paid.errors?.[0]?.message).toBe('Payments are not set up on this deployment');
      const card = await under.ask(owner, ADD_PAYMENT_METHOD);
      expect(card.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(
        (await under.ask<{ subscribe: { __typename: string } }>(owner, SUBSCRIBE, { planId: 'FREE' })).data?.subscribe.__typename,
      ).toBe('SubscriptionChanged');
      expect((await under.ask<{ invoices: unknown[] }>(owner, INVOICES)).data?.invoices).toEqual([]);
      const webhook = await fetch(`${under.subgraph.url}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'stripe-signature': 't=1,v1=00' },
        body: '{}',
      });
      expect(webhook.status).toBe(503);
      expect(under.loggedErrors).toEqual([]);
    });
  });
});
