import { z } from 'zod';

export const PROVIDERS = ['openai', 'anthropic'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const CAPABILITIES = ['chat', 'streaming', 'embeddings'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export const AI_TASKS = ['CHAT', 'SUMMARIZE', 'CLASSIFY', 'EXTRACT'] as const;
export type AiTask = (typeof AI_TASKS)[number];

export const modelDefinitionSchema = z.object({
  id: z.string().min(1),
  provider: z.enum(PROVIDERS),
  capabilities: z.array(z.enum(CAPABILITIES)).min(1),
  contextWindow: z.number().int().min(1),
  /** US dollars per million input tokens. */
  inputPricePerMillion: z.number().min(0),
  /** US dollars per million output tokens. */
  outputPricePerMillion: z.number().min(0),
});

export type ModelDefinition = z.infer<typeof modelDefinitionSchema>;

/** List prices at the time of writing; a deployment corrects or extends them with AI_MODELS. */
export const BUILT_IN_MODELS: readonly ModelDefinition[] = [
  {
    id: 'gpt-4o',
    provider: 'openai',
    capabilities: ['chat', 'streaming'],
    contextWindow: 128_000,
    inputPricePerMillion: 2.5,
    outputPricePerMillion: 10,
  },
  {
    id: 'gpt-4o-mini',
    provider: 'openai',
    capabilities: ['chat', 'streaming'],
    contextWindow: 128_000,
    inputPricePerMillion: 0.15,
    outputPricePerMillion: 0.6,
  },
  {
    id: 'text-embedding-3-small',
    provider: 'openai',
    capabilities: ['embeddings'],
    contextWindow: 8191,
    inputPricePerMillion: 0.02,
    outputPricePerMillion: 0,
  },
  {
    id: 'text-embedding-3-large',
    provider: 'openai',
    capabilities: ['embeddings'],
    contextWindow: 8191,
    inputPricePerMillion: 0.13,
    outputPricePerMillion: 0,
  },
  {
    id: 'claude-sonnet-4-6',
    provider: 'anthropic',
    capabilities: ['chat', 'streaming'],
    contextWindow: 200_000,
    inputPricePerMillion: 3,
    outputPricePerMillion: 15,
  },
  {
    id: 'claude-haiku-4-5',
    provider: 'anthropic',
    capabilities: ['chat', 'streaming'],
    contextWindow: 200_000,
    inputPricePerMillion: 1,
    outputPricePerMillion: 5,
  },
];

/** Quality first for open-ended work, the cheaper models for the narrow tasks; each list alternates providers for fallback. */
export const DEFAULT_ROUTES: Readonly<Record<AiTask, readonly string[]>> = {
  CHAT: ['gpt-4o', 'claude-sonnet-4-6'],
  SUMMARIZE: ['gpt-4o-mini', 'claude-haiku-4-5'],
  CLASSIFY: ['gpt-4o-mini', 'claude-haiku-4-5'],
  EXTRACT: ['gpt-4o', 'claude-sonnet-4-6'],
};

/** The models this deployment knows, and which of them it can reach with the providers it has keys for. */
export class ModelCatalogue {
  private readonly models: ReadonlyMap<string, ModelDefinition>;
  private readonly routes: Record<AiTask, readonly string[]>;

  constructor(
    private readonly configured: ReadonlySet<ProviderName>,
    extraModels: readonly ModelDefinition[] = [],
    routes: Partial<Record<AiTask, readonly string[]>> = {},
  ) {
    this.models = new Map([...BUILT_IN_MODELS, ...extraModels].map((model) => [model.id, model]));
    this.routes = { ...DEFAULT_ROUTES, ...routes };
    for (const [task, ids] of Object.entries(this.routes))
      for (const id of ids) if (!this.models.has(id)) throw new Error(`AI_ROUTES: ${task} names ${id}, which is not in the catalogue`);
  }

  all(): ModelDefinition[] {
    return [...this.models.values()];
  }

  find(id: string): ModelDefinition | undefined {
    return this.models.get(id);
  }

  isConfigured(model: ModelDefinition): boolean {
    return this.configured.has(model.provider);
  }

  get anyProviderConfigured(): boolean {
    return this.configured.size > 0;
  }

  /**
   * The models to try for a chat request, in order: the one asked for (else the task's first), then the task's models of
   * other providers, so that a provider's outage moves the request to another provider rather than to its sibling.
   */
  chatCandidates(task: AiTask, requested?: ModelDefinition): ModelDefinition[] {
    const route = this.routes[task].map((id) => this.models.get(id)!).filter((model) => this.isConfigured(model));
    const first = requested ?? route[0];
    if (!first) return [];
    const providersTried = new Set([first.provider]);
    const fallbacks = route.filter((model) => !providersTried.has(model.provider) && providersTried.add(model.provider));
    return [first, ...fallbacks];
  }
}

/** What a request cost, from the catalogue's prices. */
export function costOf(model: ModelDefinition, inputTokens: number, outputTokens: number): number {
  return (inputTokens * model.inputPricePerMillion + outputTokens * model.outputPricePerMillion) / 1_000_000;
}
