import { isUuid } from '@nexusflow/kit';
import type { LedgerAccountResolvers } from '../__generated__/resolvers-types.ts';

export const LedgerAccount: LedgerAccountResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.ledgerAccountById.load(id) : null),
};
