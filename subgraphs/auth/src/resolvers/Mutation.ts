import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  register: (_parent, { input }, { em, services, clientAddress }) => services.auth.register(em, input, clientAddress),
  login: (_parent, { input }, { em, services, clientAddress }) => services.auth.login(em, input.email, input.password, clientAddress),
  refreshSession: (_parent, { refreshToken }, { em, services }) => services.auth.refresh(em, refreshToken),
  logout: async (_parent, { refreshToken }, { em, services }) => ({ loggedOut: await services.auth.logout(em, refreshToken) }),
};
