import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { createStripeClient } from '../src/domain/stripe-client.ts';
import { FakeStripe, parseStripeForm } from './support/fake-stripe.ts';

/** The stand-in speaks Stripe's API as the official SDK expects it: checked here with the SDK itself. */
describe('the fake Stripe API', () => {
  const fake = new FakeStripe({ secretKey: 'sk_test_fake', webhookSecret: 'whsec_fake', prices: { price_pro: { unitAmount: 9_900 } } });
  let stripe: Stripe;

  beforeAll(async () => {
    await fake.start();
    stripe = createStripeClient({ secretKey: 'sk_test_fake', apiBaseUrl: new URL(fake.origin) })!;
  });

  afterAll(async () => {
    await fake.close();
  });

  it('reads the form encoding the SDK writes, nested objects and arrays included', () => {
    const form = new URLSearchParams('items[0][price]=price_pro&items[0][quantity]=2&metadata[tenantId]=t1&cancel_at_period_end=true');
    expect(parseStripeForm(form)).toEqual({
      items: [{ price: 'price_pro', quantity: '2' }],
      metadata: { tenantId: 't1' },
      cancel_at_period_end: 'true',
    });
  });

  it('replays the first answer to an idempotency key, and refuses the key with other parameters as Stripe does', async () => {
    const first = await stripe.customers.create({ metadata: { tenantId: 'a' } }, { idempotencyKey: 'customer-a' });
    const again = await stripe.customers.create({ metadata: { tenantId: 'a' } }, { idempotencyKey: 'customer-a' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    const misuse = stripe.customers.create({ metadata: { tenantId: 'b' } }, { idempotencyKey: 'customer-a' });
    await expect(misuse).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });

  it('answers a wrong key 401 and a missing object 404 with Stripe’s error shapes, as the SDK’s typed errors', async () => {
    const wrongKey = createStripeClient({ secretKey: 'sk_test_other', apiBaseUrl: new URL(fake.origin) })!;
    await expect(wrongKey.customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    const missing = await stripe.subscriptions.retrieve('sub_missing').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing).toMatchObject({ code: 'resource_missing', statusCode: 404, message: "No such subscription: 'sub_missing'" });
  });

  it('counts a meter event once per identifier', async () => {
    const customer = await stripe.customers.create({});
    const event = { event_name: 'executions', payload: { stripe_customer_id: customer.id, value: '3' }, identifier: 'tenant-2026-12' };
    await stripe.billing.meterEvents.create(event);
    await stripe.billing.meterEvents.create(event);
    expect([...fake.meterEvents.values()].filter((each) => each.payload.stripe_customer_id === customer.id)).toHaveLength(1);
  });

  it('signs deliveries so that the SDK’s own check accepts them, and only under the endpoint’s secret', () => {
    const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'invoice.paid', data: { object: {} } });
    expect(Stripe.webhooks.constructEvent(payload, fake.sign(payload), 'whsec_fake').id).toBe('evt_1');
    expect(() => Stripe.webhooks.constructEvent(payload, fake.sign(payload), 'whsec_other')).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
  });
});
