import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { SETTLE_MS } from '../src/domain/metered-usage.ts';
import { monthOf } from '../src/domain/usage.ts';
import { callerOf, startBillingUnderTest, type BillingUnderTest, type Caller } from './support/billing-under-test.ts';
import { FakeStripe } from '../../../../test/support/fake-stripe.ts';

const SUBSCRIBE = 'mutation ($planId: ID!) { subscribe(planId: $planId) { __typename } }';
const ADD_PAYMENT_METHOD = 'mutation { addPaymentMethod { setupIntentId } }';
const METER_EVENTS = '/v1/billing/meter_events';

describe.each(storageModes(['postgres', 'amqp']))('metered usage reported to Stripe on $storage', ({ mode }) => {
  const clock = { now: Date.now() };
  const stripe = new FakeStripe({
    secretKey: 'sk_test_metered',
    webhookSecret: 'whsec_metered_test',
    prices: { price_pro: { unitAmount: 9_900 } },
    now: () => Math.floor(clock.now / 1000),
  });
  let under: BillingUnderTest;

  beforeAll(async () => {
    await stripe.start();
    under = await startBillingUnderTest(
      mode,
      'metered',
      {
        ...stripe.environment,
        STRIPE_PRICE_PRO: 'price_pro',
        STRIPE_METER_EVENT_EXECUTIONS: 'nexusflow_executions',
        STRIPE_METER_EVENT_AI_TOKENS: 'nexusflow_ai_tokens',
      },
      clock,
    );
    stripe.webhookUrl = under.webhookUrl;
  });

  afterAll(async () => {
    await stripe.close();
    await under?.close();
  });

  const settled = async () => {
    await stripe.settled();
    await under.settled();
  };

  /** A tenant on `plan`; a paid plan after its OWNER filed a card. */
  async function tenantOn(plan: 'FREE' | 'PRO', withCard = plan !== 'FREE'): Promise<Caller> {
    const owner = callerOf(randomUUID(), [Role.Owner]);
    if (withCard) {
      const { addPaymentMethod } = await under.answer(owner, ADD_PAYMENT_METHOD);
      await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
      await settled();
    }
    expect((await under.answer(owner, SUBSCRIBE, { planId: plan })).subscribe.__typename).toBe('SubscriptionChanged');
    return owner;
  }

  /** What the workflows and ai services publish as the tenant runs and calls models, counted by billing. */
  async function used(tenantId: string, executions: number, aiTokens: number): Promise<void> {
    const occurredAt = new Date(clock.now).toISOString();
    for (let run = 0; run < executions; run += 1) {
      await under.subgraph.services.usage.count({
        id: randomUUID(),
        type: 'workflow.execution.started',
        occurredAt,
        tenantId,
        payload: { tenantId },
      });
    }
    await under.subgraph.services.usage.count({
      id: randomUUID(),
      type: 'ai.usage.recorded',
      occurredAt,
      tenantId,
      payload: { inputTokens: aiTokens, outputTokens: 0 },
    });
  }

  const customerOf = async (tenantId: string) =>
    (await under.rows('select stripe_customer_id from billing_customers where tenant_id = ?', [tenantId]))[0]?.stripe_customer_id as
      string | undefined;
  const meterEventsOf = (customerId: string | undefined) =>
    [...stripe.meterEvents.values()]
      .filter((event) => event.payload.stripe_customer_id === customerId)
      .map(({ event_name, payload, timestamp }) => ({ event_name, value: payload.value, timestamp }));
  const pass = () => under.subgraph.services.meteredUsage.reportClosedPeriods();

  it('reports a paid tenant’s month once per meter after it closes, a free tenant’s never, and a second pass nothing', async () => {
    const paid = await tenantOn('PRO');
    const free = await tenantOn('FREE');
    const freeWithCard = await tenantOn('FREE', true);
    for (const tenant of [paid, free, freeWithCard]) await used(tenant.tenantId, 3, 1_500);
    const period = monthOf(clock.now);

    await pass();
    expect(meterEventsOf(await customerOf(paid.tenantId))).toEqual([]);
    // The month just closed still settles: events of its last minutes may be on their way.
    clock.now = period.end.getTime() + SETTLE_MS / 2;
    await pass();
    expect(meterEventsOf(await customerOf(paid.tenantId))).toEqual([]);

    clock.now = period.end.getTime() + SETTLE_MS + 60_000;
    const lastSecond = period.end.getTime() / 1000 - 1;
    expect(await pass()).toMatchObject({ failed: 0 });
    expect(meterEventsOf(await customerOf(paid.tenantId))).toEqual([
      { event_name: 'nexusflow_executions', value: '3', timestamp: lastSecond },
      { event_name: 'nexusflow_ai_tokens', value: '1500', timestamp: lastSecond },
    ]);
    expect(meterEventsOf(await customerOf(freeWithCard.tenantId))).toEqual([]);
    expect(await under.rows('select * from usage_reports where tenant_id in (?, ?)', [free.tenantId, freeWithCard.tenantId])).toEqual([]);

    const sent = stripe.requests.filter((request) => request.path === METER_EVENTS).length;
    expect(await Promise.all([pass(), pass()])).toEqual([
      { reported: 0, failed: 0 },
      { reported: 0, failed: 0 },
    ]);
    expect(stripe.requests.filter((request) => request.path === METER_EVENTS)).toHaveLength(sent);
    expect(
      await under.rows(
        'select meter, quantity, reported_at is not null as reported from usage_reports where tenant_id = ? order by meter',
        [paid.tenantId],
      ),
    ).toEqual([
      { meter: 'AI_TOKENS', quantity: expect.anything(), reported: true },
      { meter: 'EXECUTIONS', quantity: expect.anything(), reported: true },
    ]);
    clock.now = Date.now();
  });

  it('reports once what Stripe took while its answer was lost, when the next pass sends the same identifier again', async () => {
    clock.now = Date.now();
    const paid = await tenantOn('PRO');
    await used(paid.tenantId, 2, 700);
    const period = monthOf(clock.now);
    clock.now = period.end.getTime() + SETTLE_MS + 60_000;

    // Stripe records the first report, and the SDK's two retries (same idempotency key) lose their answers too.
    stripe.loseAnswers(METER_EVENTS, 3);
    const interrupted = await pass();
    expect(interrupted.failed).toBe(1);
    const customerId = await customerOf(paid.tenantId);
    // Stripe took both reports; only one was recorded as taken here.
    expect(meterEventsOf(customerId)).toHaveLength(2);
    expect(
      await under.rows('select count(*)::int as pending from usage_reports where tenant_id = ? and reported_at is null', [paid.tenantId]),
    ).toEqual([{ pending: 1 }]);

    await pass();
    expect(meterEventsOf(customerId).map(({ event_name, value }) => [event_name, value])).toEqual([
      ['nexusflow_executions', '2'],
      ['nexusflow_ai_tokens', '700'],
    ]);
    const identifiers = stripe.requests
      .filter((request) => request.path === METER_EVENTS && request.params.payload.stripe_customer_id === customerId)
      .map((request) => request.params.identifier as string);
    // The lost report went out again under its identifier, and Stripe counted it once.
    expect(new Set(identifiers).size).toBe(2);
    expect(identifiers.length).toBeGreaterThan(2);
    expect(identifiers[0]).toBe(`nexusflow-${paid.tenantId}-${period.start.toISOString().slice(0, 7)}-executions`);
    clock.now = Date.now();
  });
});
