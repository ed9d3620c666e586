import {
  badUserInput,
  clientError,
  ErrorCode,
  requireRole,
  requireUser,
  WRITER_ROLES,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import type { CachedCompletion, ResponseCache } from './cache.ts';
import { AI_TASKS, costOf, type Capability, type ModelCatalogue, type ModelDefinition } from './catalogue.ts';
import type { CircuitBreakers, ModelStatus } from './circuit-breaker.ts';
import type { TenantRequestLimit, TokenCounter } from './limits.ts';
import type { PlanRouting } from './plans.ts';
import type { PromptProvenance } from './prompts.ts';
import type { ChatMessage, ChatResult, ChatStreamPart, FinishReason } from './providers.ts';
import { circuitKey, StreamBrokeOff, type FailedModel, type ModelRouter, type Routed } from './router.ts';
import type { UsageEntry, UsageLedger } from './usage.ts';

/** What a client is told: which settings would change that is the operator's business, said in the log at start. */
export const NO_PROVIDER_MESSAGE = 'No AI provider is configured on this deployment';
/** What the operator is told at start when no provider is configured. */
export const NO_PROVIDER_HINT =
  'No AI provider is configured, so every AI operation answers SERVICE_UNAVAILABLE: set OPENAI_API_KEY (with OPENAI_BASE_URL for another OpenAI-compatible server) or ANTHROPIC_API_KEY';

export interface ModelView extends ModelDefinition {
  configured: boolean;
  status: ModelStatus;
}

export interface CompletionView {
  text: string;
  model: string;
  provider: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  finishReason: FinishReason;
  /** Served from the response cache: no provider was asked, and it cost nothing. */
  cacheHit: boolean;
  promptName?: string;
  promptVersion?: number;
}

/** One event of a streamed completion: text as it arrives, then a last one with the summary. */
export interface CompletionChunk {
  delta: string;
  completion: CompletionView | null;
}

export interface EmbeddingView {
  model: string;
  vectors: number[][];
  tokens: number;
}

const MAX_MESSAGES = 200;

const completionInputSchema = z.object({
  messages: z
    .array(z.object({ role: z.enum(['SYSTEM', 'USER', 'ASSISTANT']), content: z.string().min(1, 'must not be empty') }))
    .min(1, 'must hold at least one message')
    .max(MAX_MESSAGES, `must hold at most ${MAX_MESSAGES} messages`),
  model: z.string().min(1).nullish(),
  task: z.enum(AI_TASKS).nullish(),
  temperature: z.number().min(0, 'must be between 0 and 2').max(2, 'must be between 0 and 2').nullish(),
  maxTokens: z.number().int().min(1, 'must be at least 1').nullish(),
});

interface PreparedCompletion {
  tenantId: string;
  userId: string;
  candidates: ModelDefinition[];
  messages: ChatMessage[];
  temperature?: number;
  maxTokens: number;
  promptTokens: number;
  /** The prompt template the messages were rendered from, recorded on the completion and its usage. */
  provenance?: PromptProvenance;
}

export interface AiModelsOptions {
  catalogue: ModelCatalogue;
  breakers: CircuitBreakers;
  router: ModelRouter;
  tokens: TokenCounter;
  requestLimit: TenantRequestLimit;
  usage: UsageLedger;
  cache: ResponseCache;
  /** The models of the caller's tenant's plan. */
  routing: PlanRouting;
  defaultMaxTokens: number;
  maxTokensPerRequest: number;
  embeddingModel: string;
}

/**
 * Completions and embeddings for a tenant: refused before anything is sent when no provider is configured, the input is
 * wrong, it counts more tokens than a request may, or the tenant is over its requests a minute; then routed (retries,
 * fallback, circuits) and written down as usage, failed attempts included.
 */
export class AiModels {
  constructor(private readonly options: AiModelsOptions) {}

  /** The caller's tenant's usage records, for its OWNER and ADMINs. */
  usage(em: EntityManager, identity: Identity, first: number) {
    return this.options.usage.list(em, identity, first);
  }

  list(identity: Identity): ModelView[] {
    requireUser(identity);
    const { catalogue, breakers } = this.options;
    return catalogue.all().map((model) => ({
      ...model,
      configured: catalogue.isConfigured(model),
      status: breakers.status(circuitKey(model)),
    }));
  }

  /** Exports each model's circuit as `ai_model_status` (0 healthy, 1 degraded, 2 open), read at every scrape. */
  registerMetrics(registry: Registry): void {
    const levels: Record<ModelStatus, number> = { HEALTHY: 0, DEGRADED: 1, OPEN_CIRCUIT: 2 };
    const models = this.options.catalogue;
    const breakers = this.options.breakers;
    new Gauge({
      name: 'ai_model_status',
      help: 'Circuit of each configured model: 0 healthy, 1 degraded (recent failures or half-open), 2 open circuit',
      labelNames: ['provider', 'model'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const model of models.all())
          if (models.isConfigured(model))
            this.set({ provider: model.provider, model: model.id }, levels[breakers.status(circuitKey(model))]);
      },
    });
  }

  /** `keepIf` says which answers may be cached: a feature that cannot use an answer must not get it again from the cache. */
  async complete(
    identity: Identity,
    input: unknown,
    signal?: AbortSignal,
    provenance?: PromptProvenance,
    keepIf: (text: string) => boolean = () => true,
  ): Promise<CompletionView> {
    const prepared = await this.prepare(identity, input, provenance);
    const cacheKey = this.cacheKeyOf(prepared);
    const cached = cacheKey === undefined ? undefined : await this.fromCache(prepared, cacheKey);
    if (cached) return cached;
    let routed: Routed<ChatResult>;
    try {
      routed = await this.options.router.complete(prepared.candidates, {
        messages: prepared.messages,
        maxTokens: prepared.maxTokens,
        ...(prepared.temperature === undefined ? {} : { temperature: prepared.temperature }),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      await this.recordFailures(prepared, failuresOf(error));
      throw error;
    }
    const completion = this.viewOf(prepared, routed.model, routed.value, routed.latencyMs);
    await this.recordCompletion(prepared, routed.failures, completion);
    if (cacheKey !== undefined && keepIf(completion.text)) await this.options.cache.keepCompletion(cacheKey, cachedFormOf(completion));
    return completion;
  }

  /** Refusals and a total outage are answered before the first event; what follows comes from the model that answered. */
  async stream(identity: Identity, input: unknown, provenance?: PromptProvenance): Promise<AsyncIterable<CompletionChunk>> {
    const prepared = await this.prepare(identity, input, provenance);
    // Ends the provider's request when the client goes away before the answer is complete.
    const abort = new AbortController();
    const started = performance.now();
    let routed: Routed<AsyncIterable<ChatStreamPart>>;
    try {
      routed = await this.options.router.openStream(prepared.candidates, {
        messages: prepared.messages,
        maxTokens: prepared.maxTokens,
        signal: abort.signal,
        ...(prepared.temperature === undefined ? {} : { temperature: prepared.temperature }),
      });
    } catch (error) {
      await this.recordFailures(prepared, failuresOf(error));
      throw error;
    }
    const answerStarted = started + routed.failures.reduce((sum, failed) => sum + failed.latencyMs, 0);
    const chunks = this.chunks(prepared, routed, answerStarted, abort);
    let iterated = false;
    // A generator awaiting the provider's next words would take the client's return() only once they came: it ends the
    // provider's request at once instead, and the generator ends with it.
    const events: AsyncIterableIterator<CompletionChunk> = {
      next: () => {
        iterated = true;
        return chunks.next();
      },
      return: async () => {
        abort.abort();
        // Stopped before the first words were asked for, the generator never ran, nor its accounting: the provider
        // has the prompt all the same.
        if (!iterated) {
          const unread = this.viewOf(
            prepared,
            routed.model,
            { text: '', finishReason: 'OTHER' },
            Math.round(performance.now() - answerStarted),
          );
          await this.recordCompletion(prepared, routed.failures, unread);
        }
        return chunks.return(undefined);
      },
      [Symbol.asyncIterator]: () => events,
    };
    return events;
  }

  private async *chunks(
    prepared: PreparedCompletion,
    answered: Routed<AsyncIterable<ChatStreamPart>>,
    answerStarted: number,
    abort: AbortController,
  ): AsyncGenerator<CompletionChunk> {
    let text = '';
    let accounted = false;
    try {
      for await (const part of answered.value) {
        if (part.kind === 'delta') {
          text += part.text;
          yield { delta: part.text, completion: null };
          continue;
        }
        const completion = this.viewOf(prepared, answered.model, { ...part, text }, Math.round(performance.now() - answerStarted));
        accounted = true;
        await this.recordCompletion(prepared, answered.failures, completion);
        yield { delta: '', completion };
      }
    } catch (error) {
      // The client went away: the request was ended on its behalf, and there is nobody to tell.
      if (abort.signal.aborted && !(error instanceof StreamBrokeOff)) return;
      if (!(error instanceof StreamBrokeOff)) throw error;
      accounted = true;
      await this.recordFailures(prepared, [
        ...answered.failures,
        {
          model: answered.model,
          failure: { reason: error.message, retryable: false },
          latencyMs: Math.round(performance.now() - answerStarted),
        },
      ]);
      throw clientError(ErrorCode.ServiceUnavailable, `${error.message}; try again`);
    } finally {
      abort.abort();
      if (!accounted) {
        // The client went away before the end ("stop generating"): the provider bills the prompt and the words it made
        // all the same, so they are usage like any other, counted here since no end part brought the provider's counts.
        const partial = this.viewOf(
          prepared,
          answered.model,
          { text, finishReason: 'OTHER' },
          Math.round(performance.now() - answerStarted),
        );
        await this.recordCompletion(prepared, answered.failures, partial);
      }
    }
  }

  /** Vectors for `texts`, for the tenant (the document index calls it too): limited and accounted like completions. */
  async embed(tenantId: string, texts: readonly string[], model?: string, userId: string | null = null): Promise<EmbeddingView> {
    const { catalogue } = this.options;
    this.requireProvider();
    const chosen = catalogue.find(model ?? this.options.embeddingModel);
    if (!chosen || !chosen.capabilities.includes('embeddings'))
      throw badUserInput(`"model" ${model ?? this.options.embeddingModel} is not an embedding model of the catalogue`, { field: 'model' });
    this.requireConfigured(chosen);
    if (texts.length === 0) return { model: chosen.id, vectors: [], tokens: 0 };
    const counted = texts.reduce((sum, text) => sum + this.options.tokens.count(text), 0);
    if (counted > this.options.maxTokensPerRequest)
      throw badUserInput(`The texts count ${counted} tokens, more than the ${this.options.maxTokensPerRequest} a request may`, {
        field: 'texts',
      });
    await this.options.requestLimit.admit(tenantId);
    const base = { userId, operation: 'EMBEDDING', cacheHit: false } as const;
    const started = performance.now();
    const cached = await this.options.cache.embeddings(tenantId, chosen.id, texts);
    const missing = texts.filter((_text, index) => cached[index] === undefined);
    if (missing.length === 0) {
      await this.options.usage.record(tenantId, [
        {
          ...base,
          cacheHit: true,
          provider: chosen.provider,
          model: chosen.id,
          inputTokens: counted,
          outputTokens: 0,
          costUsd: 0,
          latencyMs: Math.round(performance.now() - started),
          succeeded: true,
          failure: null,
        },
      ]);
      return { model: chosen.id, vectors: cached as number[][], tokens: counted };
    }
    let routed;
    try {
      // Only the texts the cache lacks are sent, and billed.
      routed = await this.options.router.embed([chosen], missing);
    } catch (error) {
      await this.options.usage.record(
        tenantId,
        failuresOf(error).map((failed) => failedEntry(base, failed)),
      );
      throw error;
    }
    const tokens = routed.value.inputTokens ?? missing.reduce((sum, text) => sum + this.options.tokens.count(text), 0);
    await this.options.cache.keepEmbeddings(tenantId, chosen.id, missing, routed.value.vectors);
    const fetched = routed.value.vectors.values();
    const vectors = cached.map((vector) => vector ?? fetched.next().value!);
    await this.options.usage.record(tenantId, [
      ...routed.failures.map((failed) => failedEntry(base, failed)),
      {
        ...base,
        provider: chosen.provider,
        model: chosen.id,
        inputTokens: tokens,
        outputTokens: 0,
        costUsd: costOf(chosen, tokens, 0),
        latencyMs: routed.latencyMs,
        succeeded: true,
        failure: null,
      },
    ]);
    return { model: chosen.id, vectors, tokens };
  }

  requireProvider(): void {
    if (!this.options.catalogue.anyProviderConfigured) throw clientError(ErrorCode.ServiceUnavailable, NO_PROVIDER_MESSAGE);
  }

  private requireConfigured(model: ModelDefinition): void {
    if (!this.options.catalogue.isConfigured(model))
      throw clientError(ErrorCode.ServiceUnavailable, `${model.id} is not available on this deployment: its provider is not configured`);
  }

  private requireCapability(model: ModelDefinition, capability: Capability): void {
    if (!model.capabilities.includes(capability))
      throw badUserInput(`"input.model" ${model.id} cannot do ${capability}`, { field: 'input.model' });
  }

  /** Every check that needs no provider, in the order that spends nothing of a tenant's budget on a request refused anyway. */
  private async prepare(identity: Identity, input: unknown, provenance?: PromptProvenance): Promise<PreparedCompletion> {
    const user = requireRole(identity, WRITER_ROLES);
    this.requireProvider();
    const parsed = completionInputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = ['input', ...issue.path].join('.');
      throw badUserInput(`"${field}" ${issue.message}`, { field });
    }
    const { catalogue, maxTokensPerRequest } = this.options;
    let requested: ModelDefinition | undefined;
    if (parsed.data.model) {
      requested = catalogue.find(parsed.data.model);
      if (!requested)
        throw badUserInput(`"input.model" ${parsed.data.model} is not in the catalogue (see models)`, { field: 'input.model' });
      this.requireCapability(requested, 'chat');
      this.requireConfigured(requested);
    }
    const candidates = (await this.options.routing.catalogueFor(user)).chatCandidates(parsed.data.task ?? 'CHAT', requested);
    if (candidates.length === 0) throw clientError(ErrorCode.ServiceUnavailable, NO_PROVIDER_MESSAGE);
    const messages = parsed.data.messages.map(({ role, content }) => ({ role: role.toLowerCase() as ChatMessage['role'], content }));
    const maxTokens = parsed.data.maxTokens ?? Math.min(this.options.defaultMaxTokens, maxTokensPerRequest);
    const promptTokens = this.options.tokens.countMessages(messages);
    if (promptTokens + maxTokens > maxTokensPerRequest)
      throw badUserInput(
        `The request counts ${promptTokens + maxTokens} tokens (${promptTokens} in its messages and ${maxTokens} of maxTokens), more than the ${maxTokensPerRequest} a request may`,
        { field: 'input.messages' },
      );
    await this.options.requestLimit.admit(user.tenantId);
    return {
      tenantId: user.tenantId,
      userId: user.userId,
      candidates,
      messages,
      maxTokens,
      promptTokens,
      ...(parsed.data.temperature == null ? {} : { temperature: parsed.data.temperature }),
      ...(provenance ? { provenance } : {}),
    };
  }

  /**
   * Only a request that asks for temperature 0 is deterministic enough to answer again from the cache; without one, the
   * provider's default (1) applies. The key holds everything that decides the answer, the models that may give it included.
   */
  private cacheKeyOf(prepared: PreparedCompletion): string | undefined {
    if (prepared.temperature !== 0) return undefined;
    return this.options.cache.completionKey({
      tenantId: prepared.tenantId,
      models: prepared.candidates.map((model) => model.id),
      messages: prepared.messages,
      temperature: prepared.temperature,
      maxTokens: prepared.maxTokens,
    });
  }

  /** A cached answer, written down as usage that cost nothing (the request still counted against the tenant's limit). */
  private async fromCache(prepared: PreparedCompletion, cacheKey: string): Promise<CompletionView | undefined> {
    const started = performance.now();
    const cached = await this.options.cache.completion(cacheKey);
    if (!cached) return undefined;
    const completion: CompletionView = {
      ...cached,
      costUsd: 0,
      latencyMs: Math.round(performance.now() - started),
      cacheHit: true,
      ...prepared.provenance,
    };
    await this.recordCompletion(prepared, [], completion);
    return completion;
  }

  private viewOf(prepared: PreparedCompletion, model: ModelDefinition, result: ChatResult, latencyMs: number): CompletionView {
    const inputTokens = result.inputTokens ?? prepared.promptTokens;
    const outputTokens = result.outputTokens ?? this.options.tokens.count(result.text);
    return {
      text: result.text,
      model: model.id,
      provider: model.provider,
      inputTokens,
      outputTokens,
      costUsd: costOf(model, inputTokens, outputTokens),
      latencyMs,
      finishReason: result.finishReason,
      cacheHit: false,
      ...prepared.provenance,
    };
  }

  private recordCompletion(prepared: PreparedCompletion, failures: readonly FailedModel[], completion: CompletionView) {
    const base = { userId: prepared.userId, operation: 'COMPLETION', cacheHit: completion.cacheHit, ...prepared.provenance } as const;
    return this.options.usage.record(prepared.tenantId, [
      ...failures.map((failed) => failedEntry(base, failed)),
      {
        ...base,
        provider: completion.provider,
        model: completion.model,
        inputTokens: completion.inputTokens,
        outputTokens: completion.outputTokens,
        costUsd: completion.costUsd,
        latencyMs: completion.latencyMs,
        succeeded: true,
        failure: null,
      },
    ]);
  }

  private recordFailures(prepared: PreparedCompletion, failures: readonly FailedModel[]) {
    const base = { userId: prepared.userId, operation: 'COMPLETION', cacheHit: false, ...prepared.provenance } as const;
    return this.options.usage.record(
      prepared.tenantId,
      failures.map((failed) => failedEntry(base, failed)),
    );
  }
}

/** What the cache keeps of a completion: the answer, not what it cost or which template it was rendered from. */
function cachedFormOf(completion: CompletionView): CachedCompletion {
  const { text, model, provider, inputTokens, outputTokens, finishReason } = completion;
  return { text, model, provider, inputTokens, outputTokens, finishReason };
}

function failedEntry(
  base: Pick<UsageEntry, 'userId' | 'operation' | 'cacheHit' | 'promptName' | 'promptVersion'>,
  failed: FailedModel,
): UsageEntry {
  return {
    ...base,
    provider: failed.model.provider,
    model: failed.model.id,
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
    latencyMs: failed.latencyMs,
    succeeded: false,
    failure: failed.failure.reason.slice(0, 255),
  };
}

/** The models a request that found no answer tried: the router attaches them to its error. */
function failuresOf(error: unknown): FailedModel[] {
  return (error as { failures?: FailedModel[] } | undefined)?.failures ?? [];
}
