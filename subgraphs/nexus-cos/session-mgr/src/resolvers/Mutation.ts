import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createSession: (_parent, { input }, { em, identity, services }) => services.sessions.create(em, identity, input),
  rotateRefreshToken: (_parent, { refreshToken }, { em, services }) => services.sessions.rotate(em, refreshToken),
  reinstateRefreshToken: (_parent, { refreshToken, issuedRefreshToken }, { services }) =>
    services.sessions.reinstate(refreshToken, issuedRefreshToken),
  revokeSession: (_parent, { id }, { em, identity, services }) => services.sessions.revokeOne(em, identity, id),
  revokeAllSessions: (_parent, { userId }, { em, identity, services }) => services.sessions.revokeAll(em, identity, userId),
};
