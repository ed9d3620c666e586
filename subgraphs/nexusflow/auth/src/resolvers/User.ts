import { isUuid, notFound } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';

/** A User is a membership: the person (`membership.user`, always populated) as a member of one tenant. */
export const User: UserResolvers = {
  // A reference that is no UUID names no one: null, as for any user the caller cannot see.
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.memberByUserId.load(id) : null),
  id: (membership) => membership.user.id,
  email: (membership) => membership.user.getEntity().email,
  emailVerified: (membership) => membership.user.getEntity().emailVerifiedAt != null,
  name: (membership) => membership.user.getEntity().name,
  createdAt: (membership) => membership.user.getEntity().createdAt,
  roles: (membership) => [membership.role],
  role: (membership) => membership.role,
  joinedAt: (membership) => membership.createdAt,
  // MFA belongs to the person, whichever tenant they are seen in.
  mfaEnabled: (membership, _args, { loaders }) => loaders.mfaEnabledByUserId.load(membership.user.id),
  tenant: async (membership, _args, { loaders }) => {
    // A session's membership comes with its tenant: whoever just signed in may not have a tenant scope yet.
    if (membership.tenant.isInitialized()) return membership.tenant.getEntity();
    const tenant = await loaders.tenantById.load(membership.tenant.id);
    if (!tenant) throw notFound(`Tenant of user ${membership.user.id} no longer exists`);
    return tenant;
  },
};
