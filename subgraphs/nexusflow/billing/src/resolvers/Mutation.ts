import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  subscribe: (_parent, { planId }, { em, identity, services }) => services.billing.subscribe(em, identity, planId),
  changePlan: (_parent, { planId }, { em, identity, services }) => services.billing.changePlan(em, identity, planId),
  cancelSubscription: (_parent, { atPeriodEnd }, { em, identity, services }) => services.billing.cancel(em, identity, atPeriodEnd ?? true),
  addPaymentMethod: (_parent, _args, { em, identity, services }) => services.billing.addPaymentMethod(em, identity),
};
