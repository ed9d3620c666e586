import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A Stripe webhook delivery, recorded once per event id before anything is done about it, and marked processed once
 * everything it asks for is done. Until then it is taken (leased) by one process at a time and retried: a restart
 * resumes it. A failed application is retried after an exponential backoff (`nextAttemptAt`), and after the configured
 * number of attempts the event is dead (`deadAt`): no longer retried, logged at error, for an operator to look into.
 * Not a tenant's until applied (the PaymentIntent's metadata says whose it is), so it has no tenant filter.
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
    /** Not before when the next attempt may apply it, after a failed one; null until an attempt failed. */
    nextAttemptAt: p.datetime().nullable(),
    /** When it was given up after its last allowed attempt failed; null while it is retried or once processed. */
    deadAt: p.datetime().nullable(),
  },
});

export class StripeEvent extends StripeEventSchema.class {}
StripeEventSchema.setClass(StripeEvent);
