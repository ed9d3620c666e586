import type Stripe from 'stripe';
import { SubscriptionStatus } from '../entities/billing-subscription.entity.ts';

/** Stripe's eight statuses as the five this API tells apart: an unpaid or paused subscription is not paid up. */
export function subscriptionStatusOf(status: Stripe.Subscription.Status): SubscriptionStatus {
  switch (status) {
    case 'trialing':
      return SubscriptionStatus.Trialing;
    case 'active':
      return SubscriptionStatus.Active;
    case 'past_due':
    case 'unpaid':
    case 'paused':
      return SubscriptionStatus.PastDue;
    case 'canceled':
    case 'incomplete_expired':
      return SubscriptionStatus.Canceled;
    case 'incomplete':
      return SubscriptionStatus.Incomplete;
    default:
      // A status newer than this code: not paid up until Stripe says so.
      return SubscriptionStatus.Incomplete;
  }
}

/** Since API version 2025-03-31 the period is the items' (all of one plan's items share it). */
export function periodOf(subscription: Stripe.Subscription): { start: Date | null; end: Date | null } {
  const item = subscription.items.data[0];
  return {
    start: item ? new Date(item.current_period_start * 1000) : null,
    end: item ? new Date(item.current_period_end * 1000) : null,
  };
}

/** The customer's id, whether Stripe sent the id or the expanded object. */
export function customerIdOf(customer: string | { id: string } | null): string | null {
  if (customer === null) return null;
  return typeof customer === 'string' ? customer : customer.id;
}
