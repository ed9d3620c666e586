import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createUser: (_parent, { input }, { em, identity, services }) => services.users.create(em, identity, input),
};
