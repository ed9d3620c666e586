import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  issueAccessToken: (_parent, { input }, { em, services }) => services.accessTokens.issue(em, input),
  revokeAccessToken: (_parent, { token }, { em, identity, services }) => services.accessTokens.revoke(em, identity, token),
};
