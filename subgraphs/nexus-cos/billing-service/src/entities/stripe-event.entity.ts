import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A Stripe webhook delivery, recorded once per event id before anything is done about it, and marked processed once
 * everything it asks for is done. Until then it is taken (leased) by one process at a time and retried: a restart
 * resumes it. Not a tenant's until applied (the PaymentIntent's metadata says whose it is), so it has no tenant filter.
 */
export const StripeEventSchema = defineEntity({
  name: 'StripeEvent',
  tableName: 'stripe_events',
  properties: {
    id: p.string().length(255).primary(),
    type: p.string().length(255),
    payload: p.json<Record<string, unknown>>(),
    receivedAt: p.datetime(),
    /** Until when the process applying it holds it; another may take it over after. */
    leasedUntil: p.datetime().nullable(),
    attempts: p.integer().default(0),
    lastError: p.string().length(1000).nullable(),
    processedAt: p.datetime().nullable().index(),
  },
});

export class StripeEvent extends StripeEventSchema.class {}
StripeEventSchema.setClass(StripeEvent);
