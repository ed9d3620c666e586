import { notFound } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';
import { visibleUser } from './visibility.ts';

export const User: UserResolvers = {
  __resolveReference: async ({ id }, { identity, loaders }) => visibleUser(identity, await loaders.userById.load(id)),
  tenant: async (user, _args, { loaders }) => {
    const tenant = await loaders.tenantById.load(user.tenant.id);
    if (!tenant) throw notFound(`Tenant of user ${user.id} no longer exists`);
    return tenant;
  },
};
