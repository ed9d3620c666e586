import type { LinkedIdentityResolvers } from '../__generated__/resolvers-types.ts';
import type { IdentityProviderName } from '../domain/identity-providers.ts';

export const LinkedIdentity: LinkedIdentityResolvers = {
  provider: (identity) => identity.provider as IdentityProviderName,
  linkedAt: (identity) => identity.createdAt,
};
