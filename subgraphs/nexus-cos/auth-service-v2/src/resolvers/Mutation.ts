import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createOAuthClient: (_parent, { input }, { em, identity, services }) => services.oauthClients.create(em, identity, input),
};
