import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  ledgerAccounts: (_parent, { first }, { em, services }) => services.ledgerAccounts.list(em, first ?? 20),
  ledgerAccount: (_parent, { id }, { loaders }) => loaders.ledgerAccountById.load(requireUuid(id, 'id')),
};
