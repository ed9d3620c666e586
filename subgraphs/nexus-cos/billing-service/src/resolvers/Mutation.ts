import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createPayment: (_parent, { input }, { em, identity, services }) => services.payments.create(em, identity, input),
};
