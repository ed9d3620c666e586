import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  signingKeys: (_parent, _args, { em, services }) => services.keys.published(em, services.now()),
  verifyAccessToken: (_parent, { token }, { em, services }) => services.accessTokens.verify(em, token),
};
