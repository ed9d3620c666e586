import type { UsageRecordResolvers } from '../__generated__/resolvers-types.ts';
import { providerOf } from './providers.ts';

export const UsageRecord: UsageRecordResolvers = {
  provider: ({ provider }) => providerOf(provider),
};
