import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  mySignIns: (_parent, { first }, { em, identity, services }) => services.flow.mySignIns(em, identity, first ?? 20),
};
