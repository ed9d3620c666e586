import { isUuid } from '@nexusflow/kit';
import type { TenantResolvers } from '../__generated__/resolvers-types.ts';
import { visibleTenant } from './visibility.ts';

export const Tenant: TenantResolvers = {
  __resolveReference: async ({ id }, { identity, loaders }) => (isUuid(id) ? visibleTenant(identity, await loaders.tenantById.load(id)) : null),
  users: (tenant, _args, { identity, loaders }) => (visibleTenant(identity, tenant) ? loaders.usersByTenantId.load(tenant.id) : []),
};
