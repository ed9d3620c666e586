import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { JournalEntry } from './JournalEntry.ts';
import { JournalLine } from './JournalLine.ts';
import { LedgerAccount } from './LedgerAccount.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';

export const resolvers: Resolvers = { DateTime: DateTimeScalar, Query, Mutation, LedgerAccount, JournalEntry, JournalLine };
