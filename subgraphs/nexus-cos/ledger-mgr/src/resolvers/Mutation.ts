import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  postJournalEntry: (_parent, { input }, { em, identity, services }) => services.ledger.post(em, identity, input),
};
