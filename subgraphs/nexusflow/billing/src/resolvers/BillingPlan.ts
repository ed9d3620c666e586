import { limitsOf } from '../domain/plans.ts';
import type { BillingPlanResolvers } from '../__generated__/resolvers-types.ts';

export const BillingPlan: BillingPlanResolvers = {
  id: ({ tier }) => tier,
  limits: (plan) => limitsOf(plan),
  available: ({ tier, stripePriceId }, _args, { services }) => tier === 'FREE' || (stripePriceId !== null && services.billing.payments),
};
