import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  invoices: (_parent, { filter, first }, { em, services }) => services.invoices.list(em, filter, first ?? 20),
  invoice: (_parent, { id }, { loaders }) => loaders.invoiceById.load(requireUuid(id, 'id')),
};
