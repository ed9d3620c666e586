import type { CompletionResolvers } from '../__generated__/resolvers-types.ts';
import { providerOf } from './providers.ts';

export const Completion: CompletionResolvers = {
  provider: ({ provider }) => providerOf(provider),
};
