import { isUuid } from '@nexusflow/kit';
import type { TenantResolvers } from '../__generated__/resolvers-types.ts';

export const Tenant: TenantResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.tenantById.load(id) : null),
  // Scoped to the caller's tenant: the members of any other tenant (and of every tenant, for anonymous callers) are none.
  users: (tenant, _args, { loaders }) => loaders.membersByTenantId.load(tenant.id),
};
