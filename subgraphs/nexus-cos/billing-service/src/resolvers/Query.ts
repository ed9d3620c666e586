import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  payments: (_parent, { first, invoiceId }, { em, identity, services }) => services.payments.list(em, identity, first ?? 20, invoiceId),
  payment: (_parent, { id }, { loaders }) => loaders.paymentById.load(requireUuid(id, 'id')),
  settledMoneyMovements: (_parent, { from, to }, { em, identity, services }) => services.payments.settledMovements(em, identity, from, to),
};
