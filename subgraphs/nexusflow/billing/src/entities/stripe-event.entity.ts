import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A Stripe webhook delivery, once per event id: a replayed or retried delivery finds its row and records nothing.
 * Not a tenant's until processed (the customer says whose it is), so it has no tenant filter.
 */
export const StripeEventSchema = defineEntity({
  name: 'StripeEvent',
  tableName: 'stripe_events',
  properties: {
    id: p.string().primary(),
    type: p.string(),
    payload: p.json<Record<string, unknown>>(),
    receivedAt: p.datetime(),
    processedAt: p.datetime().nullable().index(),
  },
});

export class StripeEvent extends StripeEventSchema.class {}
StripeEventSchema.setClass(StripeEvent);
