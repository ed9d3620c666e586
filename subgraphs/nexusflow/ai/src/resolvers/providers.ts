import type { AiProvider, ModelCapability } from '../__generated__/resolvers-types.ts';
import type { Capability, ProviderName } from '../domain/catalogue.ts';

/** The domain names providers and capabilities as their APIs do; the schema as GraphQL enums. */
const PROVIDERS: Record<ProviderName, AiProvider> = { openai: 'OPENAI', anthropic: 'ANTHROPIC' };
const CAPABILITIES: Record<Capability, ModelCapability> = { chat: 'CHAT', streaming: 'STREAMING', embeddings: 'EMBEDDINGS' };

export const providerOf = (name: string): AiProvider => PROVIDERS[name as ProviderName];
export const capabilityOf = (name: Capability): ModelCapability => CAPABILITIES[name];
