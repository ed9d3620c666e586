import type { TenantMembershipResolvers } from '../__generated__/resolvers-types.ts';

/** The caller's own memberships, read across tenants with their tenant populated (see Teams.myMemberships). */
export const TenantMembership: TenantMembershipResolvers = {
  tenant: (membership) => membership.tenant.getEntity(),
  joinedAt: (membership) => membership.createdAt,
  current: (membership, _args, { identity }) => identity.kind === 'user' && identity.tenantId === membership.tenant.id,
};
