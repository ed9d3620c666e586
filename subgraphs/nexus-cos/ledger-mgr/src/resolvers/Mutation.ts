import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createLedgerAccount: (_parent, { input }, { em, identity, services }) => services.ledgerAccounts.create(em, identity, input),
};
