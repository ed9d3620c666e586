import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  oauthClients: (_parent, { first }, { em, services }) => services.oauthClients.list(em, first ?? 20),
  oauthClient: (_parent, { id }, { loaders }) => loaders.oauthClientById.load(requireUuid(id, 'id')),
};
