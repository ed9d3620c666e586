import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  mySessions: (_parent, _args, { em, identity, services }) => services.sessions.mine(em, identity),
};
