import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createSession: (_parent, { input }, { em, identity, services }) => services.sessions.create(em, identity, input),
};
