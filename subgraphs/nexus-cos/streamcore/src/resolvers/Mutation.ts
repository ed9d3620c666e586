import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createStreamAsset: (_parent, { input }, { em, identity, services }) => services.streamAssets.create(em, identity, input),
};
