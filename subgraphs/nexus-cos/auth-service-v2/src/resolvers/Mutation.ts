import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  registerOAuthClient: (_parent, { input }, { em, identity, services }) => services.oauthClients.register(em, identity, input),
  rotateOAuthClientSecret: (_parent, { id }, { em, identity, services }) => services.oauthClients.rotateSecret(em, identity, id),
  deleteOAuthClient: (_parent, { id }, { em, identity, services }) => services.oauthClients.delete(em, identity, id),
};
