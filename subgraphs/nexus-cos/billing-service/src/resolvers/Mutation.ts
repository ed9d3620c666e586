import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  payInvoice: (_parent, { input }, { em, identity, services }) => services.payments.payInvoice(em, identity, input),
  refundPayment: (_parent, { input }, { em, identity, services }) => services.payments.refundPayment(em, identity, input),
};
