import type { JournalLineResolvers } from '../__generated__/resolvers-types.ts';

export const JournalLine: JournalLineResolvers = {
  account: async (line, _args, { loaders }) => {
    const account = await loaders.ledgerAccountById.load(line.accountId);
    if (!account) throw new Error(`journal line ${line.id} names account ${line.accountId}, which is not there`);
    return account;
  },
};
