import { isUuid } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';

export const User: UserResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.userById.load(id) : null),
  emailVerified: (user) => user.emailVerifiedAt !== null && user.emailVerifiedAt !== undefined,
  active: (user) => !user.deactivatedAt,
  organisation: async (user, _args, { loaders }) => {
    const organisation = await loaders.organisationOfUser.load(user.tenantId);
    if (!organisation) throw new Error(`user ${user.id} has no organisation`);
    return organisation;
  },
};
