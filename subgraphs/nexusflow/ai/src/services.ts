import { OutboxRelay, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { AiConfig } from './config.ts';
import { AiModels, NO_PROVIDER_HINT } from './domain/ai-models.ts';
import { ResponseCache } from './domain/cache.ts';
import { DocumentIndex } from './domain/documents.ts';
import { AiFeatures } from './domain/features.ts';
import { PromptTemplates } from './domain/prompts.ts';
import { ModelCatalogue, type ProviderName } from './domain/catalogue.ts';
import { CircuitBreakers } from './domain/circuit-breaker.ts';
import { TenantRequestLimit, TokenCounter } from './domain/limits.ts';
import { PlanRouting, TenantPlans } from './domain/plans.ts';
import { createProviders } from './domain/providers.ts';
import { ModelRouter } from './domain/router.ts';
import { UsageLedger } from './domain/usage.ts';
import { WorkflowSuggestions } from './domain/workflow-suggestions.ts';
import { openVectorStore } from './vector-store/index.ts';

/** The providers configured, the routing between them, the limits before it and the usage written after it. */
export function createModelServices(runtime: SubgraphRuntime, config: AiConfig) {
  const providers = createProviders(config.providers, config.requestTimeoutMs, runtime.logger);
  const configured = new Set<ProviderName>(providers.keys());
  const catalogue = new ModelCatalogue(configured, config.extraModels, config.routes);
  const routing = PlanRouting.create({
    configured,
    extraModels: config.extraModels,
    routes: config.routes,
    planRoutes: config.planRoutes,
    catalogue,
    plans: () =>
      new TenantPlans({
        authUrl: config.authUrl,
        internalSecret: config.subgraph.internalSecret,
        ttlSeconds: config.planCacheSeconds,
        logger: runtime.logger,
        now: runtime.clock,
      }),
  });
  const cache = ResponseCache.create({
    redisUrl: runtime.config.redisUrl,
    namespace: runtime.config.redisNamespace,
    logger: runtime.logger,
    now: runtime.clock,
    ...config.cache,
  });
  const breakers = new CircuitBreakers({
    failureThreshold: config.breakerFailures,
    cooldownMs: config.breakerCooldownMs,
    now: runtime.clock,
  });
  // Usage events for billing and analytics.
  const relay = new OutboxRelay(runtime.database, runtime.eventBus, runtime.logger);
  const requestLimit = TenantRequestLimit.create({
    redisUrl: runtime.config.redisUrl,
    namespace: runtime.config.redisNamespace,
    logger: runtime.logger,
    now: runtime.clock,
    ...config.requestLimit,
  });
  const models = new AiModels({
    catalogue,
    routing,
    cache,
    breakers,
    router: new ModelRouter({
      providers,
      breakers,
      maxRetries: config.maxRetries,
      retryBaseMs: config.retryBaseMs,
      retryMaxWaitMs: config.retryMaxWaitMs,
    }),
    tokens: new TokenCounter(),
    requestLimit,
    usage: new UsageLedger(runtime.database, () => relay.notify(), runtime.clock),
    defaultMaxTokens: config.defaultMaxTokens,
    maxTokensPerRequest: config.maxTokensPerRequest,
    embeddingModel: config.embeddingModel,
  });
  models.registerMetrics(runtime.metrics.registry);
  if (!catalogue.anyProviderConfigured) runtime.logger.warn(NO_PROVIDER_HINT);
  const vectorStore = openVectorStore(config.pinecone, runtime.database, runtime.logger);
  // Awaited by every use of the documents; caught here too so that a failed detection is logged at start, not left unhandled.
  vectorStore.catch((error: unknown) => runtime.logger.error({ err: error }, 'the vector store could not be opened'));
  const documents = new DocumentIndex(vectorStore, models);
  const prompts = new PromptTemplates();
  const features = new AiFeatures(models, prompts);
  const suggestions = new WorkflowSuggestions({
    models,
    prompts,
    workflowsUrl: config.workflowsUrl,
    internalSecret: config.subgraph.internalSecret,
  });
  return { models, relay, requestLimit, cache, documents, prompts, features, suggestions };
}

export type ModelServices = ReturnType<typeof createModelServices>;

export async function startModelWork(services: ModelServices): Promise<Stoppable> {
  services.relay.start();
  return {
    close: async () => {
      await services.relay.stop();
      await services.requestLimit.close();
      await services.cache.close();
    },
  };
}
