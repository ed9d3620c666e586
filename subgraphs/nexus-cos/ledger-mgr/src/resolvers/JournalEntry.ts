import { isUuid } from '@nexusflow/kit';
import type { JournalEntryResolvers } from '../__generated__/resolvers-types.ts';

export const JournalEntry: JournalEntryResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.journalEntryById.load(id) : null),
  lines: (entry, _args, { loaders }) => loaders.linesByEntryId.load(entry.id),
};
