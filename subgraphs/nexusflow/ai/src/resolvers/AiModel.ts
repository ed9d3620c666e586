import type { AiModelResolvers } from '../__generated__/resolvers-types.ts';
import { capabilityOf, providerOf } from './providers.ts';

export const AiModel: AiModelResolvers = {
  provider: ({ provider }) => providerOf(provider),
  capabilities: ({ capabilities }) => capabilities.map(capabilityOf),
  inputPricePerMillionTokens: ({ inputPricePerMillion }) => inputPricePerMillion,
  outputPricePerMillionTokens: ({ outputPricePerMillion }) => outputPricePerMillion,
};
