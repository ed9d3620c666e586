import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  plans: (_parent, _args, { em, services }) => services.catalogue.all(em),
  subscription: (_parent, _args, { em, services }) => services.billing.current(em),
  invoices: (_parent, { first }, { em, identity, services }) => services.billing.invoices(em, identity, first ?? 20),
  usage: (_parent, _args, { em, identity, services }) => services.billing.usage(em, identity),
  executionQuota: (_parent, _args, { em, identity, services }) => services.billing.executionQuota(em, identity),
  planLimits: (_parent, _args, { em, identity, services }) => services.billing.planLimits(em, identity),
};
