import { requireUser, requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  me: (_parent, _args, { em, identity, services }) => services.accounts.me(em, identity),
  users: (_parent, { first }, { em, identity, services }) => services.accounts.list(em, identity, first ?? 20),
  signInStanding: (_parent, _args, { em, identity, services }) => services.accounts.signInStanding(em, identity),
  userStanding: (_parent, { id }, { em, services }) => services.accounts.userStanding(em, id),
  user: (_parent, { id }, { identity, loaders }) => {
    requireUser(identity);
    return loaders.userById.load(requireUuid(id, 'id'));
  },
};
