import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createTenantKey: (_parent, { input }, { em, identity, services }) => services.tenantKeys.create(em, identity, input),
};
