import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  register: (_parent, { input }, { em, services, clientAddress }) => services.accounts.register(em, input, clientAddress),
  verifyEmail: (_parent, { token }, { em, services }) => services.accounts.verifyEmail(em, token),
  resendVerificationEmail: (_parent, _args, { em, identity, services }) => services.accounts.resendVerification(em, identity),
  updateProfile: (_parent, { input }, { em, identity, services }) => services.accounts.updateProfile(em, identity, input),
  changePassword: (_parent, { input }, { em, identity, services }) => services.accounts.changePassword(em, identity, input),
  createUser: (_parent, { input }, { em, identity, services }) => services.accounts.createUser(em, identity, input),
  deactivateUser: (_parent, { id }, { em, identity, services }) => services.accounts.setActive(em, identity, id, false),
  reactivateUser: (_parent, { id }, { em, identity, services }) => services.accounts.setActive(em, identity, id, true),
  checkCredentials: (_parent, { input }, { em, services }) => services.accounts.checkCredentials(em, input),
};
