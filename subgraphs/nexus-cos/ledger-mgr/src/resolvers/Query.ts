import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  ledgerAccounts: (_parent, { currency }, { em, identity, services }) => services.ledger.accounts(em, identity, currency),
  ledgerAccount: (_parent, { id }, { loaders }) => loaders.ledgerAccountById.load(requireUuid(id, 'id')),
  accountBalances: (_parent, { at, currency }, { em, identity, services }) => services.ledger.balances(em, identity, at, currency),
  journalEntries: (_parent, { first, source, sourceId }, { em, identity, services }) =>
    services.ledger.entries(em, identity, { first: first ?? 20, source, sourceId }),
  journalEntry: (_parent, { id }, { loaders }) => loaders.journalEntryById.load(requireUuid(id, 'id')),
  reconciliation: (_parent, { from, to }, { em, identity, services }) => services.reconciliation.report(em, identity, from, to),
};
