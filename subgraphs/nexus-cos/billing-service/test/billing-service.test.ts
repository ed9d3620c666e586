import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import { FakeStripe } from '../../../../test/support/fake-stripe.ts';
import type { BillingServiceServices } from '../src/context.ts';
import { Payment } from '../src/entities/payment.entity.ts';
import { subgraph } from '../src/subgraph.ts';
import { STRIPE_WEBHOOK_PATH } from '../src/webhooks/stripe-events.ts';

const PAY = `mutation ($input: PayInvoiceInput!) { payInvoice(input: $input) { __typename } }`;
const REFUND = `mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) { __typename ... on PaymentNotFound { paymentId } } }`;
const PAYMENT = `query ($id: ID!) { payment(id: $id) { id } }`;
const PAYMENTS = `{ payments { id } }`;
const SETTLED = `query ($from: DateTime!, $to: DateTime!) { settledMoneyMovements(from: $from, to: $to) { reference } }`;

const member = (tenantId: string, roles = [Role.Member]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles });
const WEBHOOK_SECRET = 'whsec_billingServiceBehaviour000000000000';

describe('the billing-service subgraph', () => {
  let stripe: FakeStripe;
  let under: SubgraphUnderTest<BillingServiceServices>;
  /** How far the service's clock is ahead of the real one: moved to make a retry due without waiting. */
  let clockAheadMs = 0;

  beforeAll(async () => {
    stripe = await new FakeStripe({ secretKey: 'sk_test_behaviour', webhookSecret: WEBHOOK_SECRET, prices: {} }).start();
    // invoice-gen and ledger-mgr are not there: what needs them says they cannot be reached.
    under = await startSubgraphUnderTest(
      'billing-service-behaviour',
      (env) => subgraph.start(env, { clock: () => Date.now() + clockAheadMs }),
      {
        ...stripe.environment,
        INVOICE_GEN_URL: 'http://127.0.0.1:9/graphql',
        LEDGER_MGR_URL: 'http://127.0.0.1:9/graphql',
        STRIPE_EVENT_RETRY_INTERVAL_MS: '0',
        STRIPE_EVENT_BACKOFF_INITIAL_MS: '60000',
        STRIPE_EVENT_MAX_ATTEMPTS: '3',
      },
    );
    stripe.webhookUrl = `${under.subgraph.url}${STRIPE_WEBHOOK_PATH}`;
  });

  afterAll(async () => {
    await under?.close();
    await stripe?.close();
  });

  /** A Stripe event this service does nothing about, as Stripe would sign and send it. */
  const event = () =>
    JSON.stringify({ id: `evt_${randomUUID().replaceAll('-', '')}`, object: 'event', type: 'customer.created', data: { object: {} } });

  it('records a signed delivery once, answering a replay as a duplicate', async () => {
    const payload = event();
    const first = await stripe.deliverRaw(payload, stripe.sign(payload));
    expect(first).toEqual({ status: 200, answer: JSON.stringify({ received: true, duplicate: false }) });
    const replays = await Promise.all([stripe.deliverRaw(payload, stripe.sign(payload)), stripe.deliverRaw(payload, stripe.sign(payload))]);
    expect(replays.map((replay) => JSON.parse(replay.answer).duplicate)).toEqual([true, true]);
    expect(await under.subgraph.services.stripeEvents.pendingCount()).toBe(0);
  });

  it('refuses a forged, stale or unsigned delivery with 400, recording nothing', async () => {
    const payload = event();
    const forged = await stripe.deliverRaw(payload, stripe.sign(payload, undefined, 'whsec_notTheEndpointSecret000000000000000'));
    const stale = await stripe.deliverRaw(payload, stripe.sign(payload, Math.floor(Date.now() / 1000) - 3600));
    const unsigned = await fetch(stripe.webhookUrl!, { method: 'POST', body: payload });
    expect([forged.status, stale.status, unsigned.status]).toEqual([400, 400, 400]);
    expect((await stripe.deliverRaw(payload, stripe.sign(payload))).answer).toContain('"duplicate":false');
    expect((await fetch(stripe.webhookUrl!)).status).toBe(405);
  });

  it('refuses a signed delivery that is no event (no type, a list, an id too long or with NUL) with 400, recording nothing', async () => {
    const malformed = [
      JSON.stringify({ id: 'evt_without_type' }),
      '[1,2,3]',
      JSON.stringify({ id: `evt_${'x'.repeat(300)}`, object: 'event', type: 'customer.created', data: { object: {} } }),
      JSON.stringify({ id: 'evt_\u0000', object: 'event', type: 'customer.created', data: { object: {} } }),
    ];
    for (const payload of malformed) {
      const answer = await stripe.deliverRaw(payload, stripe.sign(payload));
      expect(answer.status, payload).toBe(400);
      expect(JSON.parse(answer.answer).errors[0].extensions.code, payload).toBe('BAD_USER_INPUT');
    }
    expect(await under.subgraph.services.stripeEvents.pendingCount()).toBe(0);
  });

  it('refuses a VIEWER a payment and a MEMBER a refund with FORBIDDEN, and an anonymous caller with UNAUTHENTICATED', async () => {
    const tenantId = randomUUID();
    const pay = { input: { invoiceId: randomUUID(), paymentMethod: 'pm_card_visa' } };
    expect((await under.ask(member(tenantId, [Role.Viewer]), PAY, pay)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await under.ask(member(tenantId), REFUND, { input: { paymentId: randomUUID() } })).errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );
    expect((await under.ask({ kind: 'anonymous' }, PAY, pay)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(stripe.paymentIntents.size).toBe(0);
  });

  it('answers malformed input with BAD_USER_INPUT naming the field, and an unreachable invoice-gen with SERVICE_UNAVAILABLE', async () => {
    const owner = member(randomUUID(), [Role.Owner]);
    const cases: [string, Record<string, unknown>, string][] = [
      [PAY, { input: { invoiceId: 'not-a-uuid', paymentMethod: 'pm_card_visa' } }, 'invoiceId'],
      [PAY, { input: { invoiceId: randomUUID(), paymentMethod: 'tok_visa' } }, 'paymentMethod'],
      [REFUND, { input: { paymentId: randomUUID(), amountMinor: 0 } }, 'amountMinor'],
      [PAYMENT, { id: 'not-a-uuid' }, 'id'],
    ];
    for (const [query, variables, field] of cases) {
      expect((await under.ask(owner, query, variables)).errors?.[0], field).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field },
      });
    }
    const unreachable = await under.ask(owner, PAY, { input: { invoiceId: randomUUID(), paymentMethod: 'pm_card_visa' } });
    expect(unreachable.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect((await under.ask(owner, REFUND, { input: { paymentId: randomUUID() } })).data?.refundPayment).toMatchObject({
      __typename: 'PaymentNotFound',
    });
    expect((await under.ask(owner, PAYMENTS)).data).toEqual({ payments: [] });
    expect(under.loggedErrors).toEqual([]);
  });

  it('gives ledger-mgr the settled movements of a period for an OWNER or ADMIN only', async () => {
    const period = { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' };
    expect((await under.ask(member(randomUUID(), [Role.Admin]), SETTLED, period)).data).toEqual({ settledMoneyMovements: [] });
    expect((await under.ask(member(randomUUID()), SETTLED, period)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  // Last: the dead event is logged at error, which the test above asserts never happens.
  it('retries an event that keeps failing only after an exponentially longer wait, and gives it up after the last attempt', async () => {
    const tenantId = randomUUID();
    const em = systemFork(under.subgraph.database);
    const payment = em.create(Payment, {
      id: randomUUID(),
      createdAt: new Date(),
      updatedAt: new Date(),
      tenantId,
      createdBy: randomUUID(),
      invoiceId: randomUUID(),
      activeInvoiceId: null,
      status: 'PROCESSING',
      amountMinor: 1_000,
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
    });
    await em.flush();
    // Its charge is unknown to Stripe: every attempt to read its fee fails.
    const intent = {
      id: 'pi_backoff',
      object: 'payment_intent',
      latest_charge: 'ch_unknown',
      metadata: { tenantId, paymentId: payment.id },
    };
    const payload = JSON.stringify({ id: 'evt_backoff', object: 'event', type: 'payment_intent.succeeded', data: { object: intent } });
    const stripeCalls = () => stripe.requests.filter((request) => request.path === '/v1/charges/ch_unknown').length;
    const events = under.subgraph.services.stripeEvents;

    expect((await stripe.deliverRaw(payload, stripe.sign(payload))).status).toBe(200);
    expect(stripeCalls()).toBe(1);
    expect(await events.processPending()).toEqual({ processed: 0, failed: 0, dead: 0 });
    clockAheadMs = 60_000;
    expect(await events.processPending()).toEqual({ processed: 0, failed: 1, dead: 0 });
    clockAheadMs = 120_000;
    expect(await events.processPending()).toEqual({ processed: 0, failed: 0, dead: 0 });
    clockAheadMs = 180_000;
    expect(await events.processPending()).toEqual({ processed: 0, failed: 1, dead: 1 });
    clockAheadMs = 86_400_000;
    expect(await events.processPending()).toEqual({ processed: 0, failed: 0, dead: 0 });

    expect(stripeCalls()).toBe(3);
    expect([await events.pendingCount(), await events.deadCount()]).toEqual([0, 1]);
    expect(under.loggedErrors.map((args) => args.at(-1))).toEqual([
      'a Stripe event failed its last allowed attempt and is given up: it needs an operator',
    ]);
  });
});
