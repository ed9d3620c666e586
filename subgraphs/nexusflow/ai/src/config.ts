import { ConfigError, loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';
import { AI_TASKS, modelDefinitionSchema } from './domain/catalogue.ts';
import { PLANS } from './domain/plans.ts';

/** docker-compose passes an optional variable that is not set as an empty string: the same as not set. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const jsonOf = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value, context) => {
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'must be JSON' });
      return z.NEVER;
    }
  }, schema.optional());

const aiEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'ai')),
  OPENAI_API_KEY: optional(z.string()),
  OPENAI_BASE_URL: optional(z.url()),
  ANTHROPIC_API_KEY: optional(z.string()),
  ANTHROPIC_BASE_URL: optional(z.url()),
  /** Models added to (or replacing, by id) the built-in catalogue, e.g. those of a local OpenAI-compatible server. */
  AI_MODELS: jsonOf(z.array(modelDefinitionSchema)),
  /** Per task, the models to try in order, e.g. {"CHAT":["gpt-4o","claude-sonnet-4-6"]}; tasks not named keep the defaults. */
  AI_ROUTES: jsonOf(z.partialRecord(z.enum(AI_TASKS), z.array(z.string().min(1)).min(1))),
  AI_EMBEDDING_MODEL: z.string().min(1).default('text-embedding-3-small'),
  AI_DEFAULT_MAX_TOKENS: z.coerce.number().int().min(1).default(1024),
  AI_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1).default(30_000),
  AI_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  AI_RETRY_BASE_MS: z.coerce.number().int().min(0).default(250),
  AI_RETRY_MAX_WAIT_MS: z.coerce.number().int().min(0).default(10_000),
  AI_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  AI_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(1).default(30_000),
  /** A tenant's requests (completions, streams, embeddings) per window, shared by every instance through Redis. */
  AI_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).default(100),
  AI_RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),
  AI_MAX_TOKENS_PER_REQUEST: z.coerce.number().int().min(1).default(10_000),
  /**
   * Per plan, routes that replace AI_ROUTES for the tenants on it, e.g. {"FREE":{"CHAT":["gpt-4o-mini"]}}; plans and tasks
   * not named keep AI_ROUTES. When set, a tenant's plan is asked of the auth subgraph (AUTH_URL).
   */
  AI_PLAN_ROUTES: jsonOf(z.partialRecord(z.enum(PLANS), z.partialRecord(z.enum(AI_TASKS), z.array(z.string().min(1)).min(1)))),
  /** How long a tenant's plan, once asked, is taken as known. */
  AI_PLAN_CACHE_SECONDS: z.coerce.number().int().min(1).default(60),
  /** How long a deterministic completion (temperature 0) or an embedding is answered from the cache; 0 turns it off. */
  AI_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).default(3600),
  /** The in-process cache's bound (when REDIS_URL is unset), in answers. */
  AI_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).default(10_000),
  /** Document chunks go to Pinecone when this and PINECONE_INDEX_HOST are set; to this service's PostgreSQL otherwise. */
  PINECONE_API_KEY: optional(z.string()),
  /** The index's data-plane host (metric: cosine), e.g. https://docs-abc123.svc.aped-4627-b74a.pinecone.io. */
  PINECONE_INDEX_HOST: optional(z.string().min(1)),
});

/** Pinecone needs both its key and its index's host: one without the other is a mistake, refused at start. */
function pineconeSettings(apiKey: string | undefined, indexHost: string | undefined) {
  if (!apiKey && !indexHost) return undefined;
  if (!apiKey || !indexHost) throw new ConfigError(['PINECONE_API_KEY and PINECONE_INDEX_HOST must be set together']);
  return { apiKey, indexHost };
}

/** A provider is on when its API key is set; its base URL lets any server speaking its API stand in. */
export function loadAiConfig(env?: Environment) {
  return loadSubgraphConfig('ai', aiEnvSchema, env, (parsed) => ({
    /** The workflows subgraph, whose own validation checks every workflow definition suggestWorkflowSteps drafts. */
    workflowsUrl: parsed.WORKFLOWS_URL,
    providers: {
      ...(parsed.OPENAI_API_KEY ? { openai: { apiKey: parsed.OPENAI_API_KEY, baseUrl: parsed.OPENAI_BASE_URL } } : {}),
      ...(parsed.ANTHROPIC_API_KEY ? { anthropic: { apiKey: parsed.ANTHROPIC_API_KEY, baseUrl: parsed.ANTHROPIC_BASE_URL } } : {}),
    },
    extraModels: parsed.AI_MODELS ?? [],
    routes: parsed.AI_ROUTES ?? {},
    embeddingModel: parsed.AI_EMBEDDING_MODEL,
    defaultMaxTokens: parsed.AI_DEFAULT_MAX_TOKENS,
    requestTimeoutMs: parsed.AI_REQUEST_TIMEOUT_MS,
    maxRetries: parsed.AI_MAX_RETRIES,
    retryBaseMs: parsed.AI_RETRY_BASE_MS,
    retryMaxWaitMs: parsed.AI_RETRY_MAX_WAIT_MS,
    breakerFailures: parsed.AI_BREAKER_FAILURES,
    breakerCooldownMs: parsed.AI_BREAKER_COOLDOWN_MS,
    requestLimit: { requests: parsed.AI_REQUESTS_PER_MINUTE, windowSeconds: parsed.AI_RATE_LIMIT_WINDOW_SECONDS },
    maxTokensPerRequest: parsed.AI_MAX_TOKENS_PER_REQUEST,
    /** The auth subgraph, asked for a tenant's plan when plans have routes of their own. */
    authUrl: parsed.AUTH_URL,
    planRoutes: parsed.AI_PLAN_ROUTES ?? {},
    planCacheSeconds: parsed.AI_PLAN_CACHE_SECONDS,
    cache: { ttlSeconds: parsed.AI_CACHE_TTL_SECONDS, maxEntries: parsed.AI_CACHE_MAX_ENTRIES },
    pinecone: pineconeSettings(parsed.PINECONE_API_KEY, parsed.PINECONE_INDEX_HOST),
  }));
}

export type AiConfig = ReturnType<typeof loadAiConfig>;
