import { isUuid, requireRole, Role } from '@nexusflow/kit';
import type { TenantKeyVersionResolvers } from '../__generated__/resolvers-types.ts';
import { versionKey } from '../loaders.ts';

export const TenantKeyVersion: TenantKeyVersionResolvers = {
  // Key metadata is for the tenant's OWNERs and ADMINs, whichever subgraph's field leads to it.
  __resolveReference: ({ id }, { identity, loaders }) => {
    requireRole(identity, [Role.Owner, Role.Admin]);
    return isUuid(id) ? loaders.versionById.load(id) : null;
  },
  wrappedSecrets: (version, _args, { loaders }) => loaders.wrappedSecretCount.load(versionKey(version.tenantKeyId, version.version)),
};
