import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  login: (_parent, { input }, { em, services, clientAddress, userAgent }) => services.flow.login(em, input, { clientAddress, userAgent }),
  refreshSession: (_parent, { refreshToken }, { services }) => services.flow.refresh(refreshToken),
  logout: (_parent, _args, { identity, services }) => services.flow.logout(identity),
};
