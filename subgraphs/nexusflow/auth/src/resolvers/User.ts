import { isUuid, notFound } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';

export const User: UserResolvers = {
  // A reference that is no UUID names no one: null, as for any user the caller cannot see.
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.userById.load(id) : null),
  tenant: async (user, _args, { loaders }) => {
    // A session's user comes with its tenant: whoever just signed in may not have a tenant scope yet.
    if (user.tenant.isInitialized()) return user.tenant.getEntity();
    const tenant = await loaders.tenantById.load(user.tenant.id);
    if (!tenant) throw notFound(`Tenant of user ${user.id} no longer exists`);
    return tenant;
  },
};
