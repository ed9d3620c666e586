import { timestampedEntityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const SubscriptionStatus = {
  Trialing: 'TRIALING',
  Active: 'ACTIVE',
  PastDue: 'PAST_DUE',
  Canceled: 'CANCELED',
  Incomplete: 'INCOMPLETE',
} as const;
export type SubscriptionStatus = (typeof SubscriptionStatus)[keyof typeof SubscriptionStatus];

/**
 * A tenant's plan, at most one row per tenant: the free plan lives here alone, a paid one mirrors its Stripe
 * subscription, whose webhooks keep status and period in sync.
 */
export const BillingSubscriptionSchema = defineEntity({
  name: 'BillingSubscription',
  tableName: 'billing_subscriptions',
  filters: tenantFilter(),
  properties: {
    ...timestampedEntityBase,
    tenantId: p.uuid().unique(),
    planTier: p.string(),
    status: p.enum(() => SubscriptionStatus),
    stripeSubscriptionId: p.string().nullable().unique(),
    /** The subscription item whose price a plan change replaces. */
    stripeItemId: p.string().nullable(),
    currentPeriodStart: p.datetime().nullable(),
    currentPeriodEnd: p.datetime().nullable(),
    cancelAtPeriodEnd: p.boolean().default(false),
    canceledAt: p.datetime().nullable(),
    /** Since when a payment is overdue; the grace period counts from here. */
    pastDueSince: p.datetime().nullable(),
    /** The OWNER or ADMIN who chose the plan: told when a payment fails. */
    billingContactId: p.uuid(),
  },
});

export class BillingSubscription extends BillingSubscriptionSchema.class {}
BillingSubscriptionSchema.setClass(BillingSubscription);
