import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createLoginAttempt: (_parent, { input }, { em, identity, services }) => services.loginAttempts.create(em, identity, input),
};
