import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  issueAccessToken: (_parent, { input }, { em, services }) => services.accessTokens.issue(em, input),
  revokeSessionTokens: (_parent, { input }, { em, identity, services }) => services.accessTokens.revokeSessions(em, identity, input),
  revokeAccessToken: (_parent, { token }, { em, identity, services }) => services.accessTokens.revoke(em, identity, token),
};
