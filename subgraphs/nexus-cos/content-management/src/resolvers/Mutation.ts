import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createContent: (_parent, { input }, { em, identity, services }) => services.contents.create(em, identity, input),
};
