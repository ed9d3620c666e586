import type { TenantKeyResolvers } from '../__generated__/resolvers-types.ts';

export const TenantKey: TenantKeyResolvers = {
  nextRotationAt: (tenantKey, _args, { services }) => services.vault.nextRotationAt(tenantKey.rotatedAt),
  versions: (tenantKey, _args, { loaders }) => loaders.versionsByTenantKey.load(tenantKey.id),
};
