import { requireUser, requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  integrationProviders: (_parent, _args, { identity, services }) => services.connections.providers(identity),
  integrations: (_parent, { first }, { em, identity, services }) => services.connections.list(em, identity, first ?? 50),
  integration: (_parent, { id }, { identity, loaders }) => {
    requireUser(identity);
    return loaders.integrationById.load(requireUuid(id, 'id'));
  },
};
