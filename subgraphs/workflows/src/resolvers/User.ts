import type { UserResolvers } from '../__generated__/resolvers-types.ts';
import { pageSize } from '../domain/pagination.ts';

export const User: UserResolvers = {
  __resolveReference: ({ id }) => ({ id }),
  workflows: (user, { first, after }, { em, identity, loaders, services }) =>
    after
      ? services.workflows.list(em, identity, { first, after, filter: { ownerId: user.id } })
      : loaders.workflowsByOwner.load({ parentId: user.id, first: pageSize(first) }),
};
