import type { DestroyTenantKeyVersionResultResolvers } from '../__generated__/resolvers-types.ts';
import { TenantKeyVersion } from '../entities/tenant-key-version.entity.ts';

export const DestroyTenantKeyVersionResult: DestroyTenantKeyVersionResultResolvers = {
  __resolveType: (result) => {
    if (result instanceof TenantKeyVersion) return 'TenantKeyVersion';
    return 'wrappedSecrets' in result ? 'KeyVersionInUse' : 'KeyVersionNotFound';
  },
};
