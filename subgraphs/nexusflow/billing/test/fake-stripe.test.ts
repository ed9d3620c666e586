import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { recordingLogger } from '@nexusflow/kit/testing';
import { createStripeClient } from '../src/domain/stripe-client.ts';
import { FakeStripe, parseStripeForm } from '../../../../test/support/fake-stripe.ts';

/** The stand-in speaks Stripe's API as the official SDK expects it: checked here with the SDK itself. */
describe('the fake Stripe API', () => {
  const clock = { seconds: Math.floor(Date.now() / 1000) };
  const fake = new FakeStripe({
    secretKey: 'sk_test_fake',
    webhookSecret: 'whsec_fake',
    prices: { price_pro: { unitAmount: 9_900 } },
    now: () => clock.seconds,
  });
  let stripe: Stripe;

  beforeAll(async () => {
    await fake.start();
    stripe = createStripeClient({ secretKey: 'sk_test_fake', apiBaseUrl: new URL(fake.origin) }, recordingLogger().logger)!;
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

  it('replays a key’s first answer as it was then for a day, and carries the request out anew after that', async () => {
    const customer = await stripe.customers.create({ description: 'first' });
    const key = { idempotencyKey: `describe-${customer.id}` };
    await stripe.customers.update(customer.id, { description: 'second' }, key);
    await stripe.customers.update(customer.id, { description: 'third' });
    const replayed = await stripe.customers.update(customer.id, { description: 'second' }, key);
    expect(replayed.description).toBe('second');
    expect(fake.customers.get(customer.id)!.description).toBe('third');

    clock.seconds += 24 * 60 * 60;
    const anew = await stripe.customers.update(customer.id, { description: 'second' }, key);
    expect(anew.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(fake.customers.get(customer.id)!.description).toBe('second');
  });

  it('sets the default payment method of a customer and of a subscription to a card of that customer only', async () => {
    const customer = await stripe.customers.create({});
    const intent = await stripe.setupIntents.create({ customer: customer.id });
    const { payment_method: card } = await fake.confirmSetupIntent(intent.id);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_pro' }] });

    const updated = await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card } });
    expect(updated.invoice_settings.default_payment_method).toBe(card);
    expect((await stripe.subscriptions.update(subscription.id, { default_payment_method: card })).default_payment_method).toBe(card);
    const renewal = await fake.renew(subscription.id);
    expect(fake.charges.at(-1)).toEqual({ invoice: renewal.id, paymentMethod: card, amount: 9_900 });

    const stranger = await stripe.customers.create({});
    await expect(stripe.customers.update(stranger.id, { invoice_settings: { default_payment_method: card } })).rejects.toMatchObject({
      statusCode: 400,
      param: 'invoice_settings[default_payment_method]',
    });
  });

  it('answers a wrong key 401 and a missing object 404 with Stripe’s error shapes, as the SDK’s typed errors', async () => {
    const wrongKey = createStripeClient({ secretKey: 'sk_test_other', apiBaseUrl: new URL(fake.origin) }, recordingLogger().logger)!;
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
