import { isUuid } from '@nexusflow/kit';
import type { TenantResolvers } from '../__generated__/resolvers-types.ts';

export const Tenant: TenantResolvers = {
  __resolveReference: ({ id }) => (isUuid(id) ? { id } : null),
  // The unit of work sees the caller's tenant only, so any other tenant's workflows are none.
  workflows: (tenant, args, { em, services }) => services.workflows.list(em, args, tenant.id),
};
