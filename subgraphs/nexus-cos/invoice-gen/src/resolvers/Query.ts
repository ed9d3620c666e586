import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  invoices: (_parent, { first }, { em, services }) => services.invoices.list(em, first ?? 20),
  invoice: (_parent, { id }, { loaders }) => loaders.invoiceById.load(requireUuid(id, 'id')),
};
