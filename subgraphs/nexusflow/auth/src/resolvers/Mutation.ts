import { systemFork } from '@nexusflow/kit';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

// Signing in comes before any tenant scope: accounts are found by email or refresh token across every tenant.
export const Mutation: MutationResolvers = {
  register: (_parent, { input }, { em, services, clientAddress, userAgent }) =>
    services.auth.register(systemFork(em), input, clientAddress, userAgent),
  login: (_parent, { input }, { em, services, clientAddress, userAgent }) =>
    services.auth.login(systemFork(em), input.email, input.password, clientAddress, userAgent),
  refreshSession: (_parent, { refreshToken }, { em, services, clientAddress, userAgent }) =>
    services.auth.refresh(systemFork(em), refreshToken, { clientAddress, userAgent }),
  logout: async (_parent, { refreshToken }, { em, services }) => ({ loggedOut: await services.auth.logout(systemFork(em), refreshToken) }),
  createApiKey: (_parent, { input }, { em, identity, services }) => services.apiKeys.create(em, identity, input),
  revokeApiKey: (_parent, { id }, { em, identity, services }) => services.apiKeys.revoke(em, identity, id),
  // The gateway asks before it knows the caller's tenant; the field is not in the API, and only signed calls reach a subgraph.
  authenticateApiKey: (_parent, { secretHash }, { em, services }) => services.apiKeys.authenticate(systemFork(em), secretHash),
  revokeSession: (_parent, { id }, { em, identity, services }) => services.sessions.revoke(em, identity, id),
  revokeAllSessions: async (_parent, { includeCurrent }, { em, identity, services }) => ({
    revokedCount: await services.sessions.revokeAll(em, identity, includeCurrent),
  }),
};
