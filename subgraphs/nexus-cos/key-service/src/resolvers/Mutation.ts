import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  encryptSecret: (_parent, { input }, { em, identity, services }) => services.vault.encrypt(em, identity, input),
  decryptSecret: (_parent, { input }, { em, identity, services }) => services.vault.decrypt(em, identity, input),
  rewrapSecret: (_parent, { input }, { em, identity, services }) => services.vault.rewrap(em, identity, input),
  forgetSecret: (_parent, { input }, { em, identity, services }) => services.vault.forget(em, identity, input),
  rotateTenantKey: (_parent, _args, { em, identity, services }) => services.vault.rotateByUser(em, identity),
  destroyTenantKeyVersion: (_parent, { version }, { em, identity, services }) => services.vault.destroyVersion(em, identity, version),
};
