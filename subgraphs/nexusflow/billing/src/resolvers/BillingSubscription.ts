import type { BillingSubscriptionResolvers } from '../__generated__/resolvers-types.ts';

export const BillingSubscription: BillingSubscriptionResolvers = {
  plan: async ({ planTier }, _args, { loaders }) => {
    const plan = await loaders.planByTier.load(planTier);
    if (!plan) throw new Error(`The catalogue has no plan ${planTier}`);
    return plan;
  },
  limited: (subscription, _args, { services }) => services.billing.isLimited(subscription),
  effectiveLimits: (subscription, _args, { em, services }) => services.billing.effectiveLimits(em, subscription),
  hasPaymentMethod: async ({ tenantId }, _args, { loaders }) =>
    Boolean((await loaders.customerOfTenant.load(tenantId))?.defaultPaymentMethodId),
};
