import { isUuid, notFound } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';
import { visibleUser } from './visibility.ts';

export const User: UserResolvers = {
  // A reference that is no UUID names no one: null, as for any user the caller cannot see.
  __resolveReference: async ({ id }, { identity, loaders }) => (isUuid(id) ? visibleUser(identity, await loaders.userById.load(id)) : null),
  tenant: async (user, _args, { loaders }) => {
    const tenant = await loaders.tenantById.load(user.tenant.id);
    if (!tenant) throw notFound(`Tenant of user ${user.id} no longer exists`);
    return tenant;
  },
};
