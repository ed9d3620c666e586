import { isUuid } from '@nexusflow/kit';
import type { UserResolvers } from '../__generated__/resolvers-types.ts';
import { pageSize } from '../domain/pagination.ts';

export const User: UserResolvers = {
  // A reference that is no UUID names no one, and its id must not reach the workflows' owner_id (a uuid column).
  __resolveReference: ({ id }) => (isUuid(id) ? { id } : null),
  workflows: (user, { first, after }, { em, loaders, services }) =>
    after
      ? services.workflows.list(em, { first, after, filter: { ownerId: user.id } })
      : loaders.workflowsByOwner.load({ parentId: user.id, first: pageSize(first) }),
};
