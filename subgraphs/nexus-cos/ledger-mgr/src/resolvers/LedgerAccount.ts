import { isUuid } from '@nexusflow/kit';
import type { LedgerAccountResolvers } from '../__generated__/resolvers-types.ts';
import { ACCOUNT_NAMES, NORMAL_BALANCE } from '../domain/ledger.ts';

export const LedgerAccount: LedgerAccountResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.ledgerAccountById.load(id) : null),
  name: (account) => ACCOUNT_NAMES[account.code],
  normalBalance: (account) => NORMAL_BALANCE[account.code],
  balanceMinor: (account, _args, { loaders }) => loaders.balanceByAccount.load(account),
};
