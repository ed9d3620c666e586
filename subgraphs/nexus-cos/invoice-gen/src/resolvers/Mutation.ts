import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createInvoice: (_parent, { input }, { em, identity, services }) => services.invoices.create(em, identity, input),
};
