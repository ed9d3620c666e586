import { isUuid } from '@nexusflow/kit';
import type { TenantResolvers } from '../__generated__/resolvers-types.ts';

export const Tenant: TenantResolvers = {
  __resolveReference: ({ id }) => (isUuid(id) ? { id } : null),
  // Only the caller's own tenant has workflows visible to them.
  workflows: (tenant, args, { em, identity, services }) =>
    services.workflows.list(em, identity.kind === 'user' && identity.tenantId === tenant.id ? identity : { kind: 'anonymous' }, args),
};
