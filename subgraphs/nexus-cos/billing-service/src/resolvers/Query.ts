import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  payments: (_parent, { first }, { em, services }) => services.payments.list(em, first ?? 20),
  payment: (_parent, { id }, { loaders }) => loaders.paymentById.load(requireUuid(id, 'id')),
};
