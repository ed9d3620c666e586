import { setTimeout as delay } from 'node:timers/promises';
import Anthropic from '@anthropic-ai/sdk';
import { badUserInput, clientError, ErrorCode } from '@nexusflow/kit';
import OpenAI from 'openai';
import type { ModelDefinition, ProviderName } from './catalogue.ts';
import type { CircuitBreakers } from './circuit-breaker.ts';
import type { ChatRequest, ChatResult, ChatStreamPart, EmbeddingResult, ProviderClient } from './providers.ts';

/** Why a provider did not answer, in words safe to show a client (no addresses, no keys). */
export interface ProviderFailure {
  reason: string;
  /** Worth asking the same model again after a wait: 429, 5xx, a timeout, a dropped connection, a garbled answer. */
  retryable: boolean;
  /** What the provider asked for with Retry-After (or retry-after-ms), before the router's cap. */
  retryAfterMs?: number;
  /** The request itself is wrong (400, 404, 413, 422): another provider would refuse it too. */
  clientError?: boolean;
  aborted?: boolean;
}

export const circuitKey = (model: ModelDefinition) => `${model.provider}:${model.id}`;

function headerOf(headers: unknown, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  if (headers && typeof headers === 'object') {
    const value = (headers as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : null;
  }
  return null;
}

/** `retry-after-ms` (OpenAI's), else `Retry-After` in seconds or as an HTTP date. */
export function retryAfterMsOf(headers: unknown, now = Date.now()): number | undefined {
  const milliseconds = Number.parseFloat(headerOf(headers, 'retry-after-ms') ?? '');
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;
  const retryAfter = headerOf(headers, 'retry-after');
  if (retryAfter === null) return undefined;
  const seconds = Number.parseFloat(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const isApiError = (error: unknown): error is InstanceType<typeof OpenAI.APIError> | InstanceType<typeof Anthropic.APIError> =>
  error instanceof OpenAI.APIError || error instanceof Anthropic.APIError;

export function classifyFailure(error: unknown): ProviderFailure {
  if (error instanceof OpenAI.APIUserAbortError || error instanceof Anthropic.APIUserAbortError)
    return { reason: 'cancelled', retryable: false, aborted: true };
  if (error instanceof OpenAI.APIConnectionTimeoutError || error instanceof Anthropic.APIConnectionTimeoutError)
    return { reason: 'timed out', retryable: true };
  if (error instanceof OpenAI.APIConnectionError || error instanceof Anthropic.APIConnectionError)
    return { reason: 'unreachable', retryable: true };
  if (isApiError(error) && error.status !== undefined) {
    const status = error.status;
    const retryAfterMs = retryAfterMsOf(error.headers);
    if (status === 429 || status === 408 || status === 409 || status >= 500)
      return { reason: `HTTP ${status}`, retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
    if (status === 401 || status === 403) return { reason: `HTTP ${status} (check the API key)`, retryable: false };
    return { reason: `HTTP ${status}: ${error.message}`, retryable: false, clientError: true };
  }
  // What the SDKs throw for a body or event stream that is not what the API promises.
  return { reason: 'malformed response', retryable: true };
}

export interface FailedModel {
  model: ModelDefinition;
  failure: ProviderFailure;
  /** Time spent on this model, retries and waits included. */
  latencyMs: number;
}

export interface Routed<T> {
  model: ModelDefinition;
  value: T;
  /** The models tried before, that failed. */
  failures: FailedModel[];
  /** Time spent on the model that answered. */
  latencyMs: number;
}

export interface RouterOptions {
  providers: ReadonlyMap<ProviderName, ProviderClient>;
  breakers: CircuitBreakers;
  maxRetries: number;
  retryBaseMs: number;
  /** The longest wait between attempts, whatever Retry-After asks. */
  retryMaxWaitMs: number;
  /** @default a timer */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** An answer that already reached the client cannot move to another model; its failure ends the request. */
export class StreamBrokeOff extends Error {}

/**
 * Sends a request to the first model that can take it: retries a model while its failures are transient (waiting
 * as Retry-After asks, within a cap, else exponentially longer), then moves to the next candidate, skipping models whose
 * circuit is open. A request the provider calls wrong is the client's error and goes nowhere else.
 */
export class ModelRouter {
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly options: RouterOptions) {
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, signal ? { signal } : {}));
  }

  /** The wait before retry number `retry` (1 for the first). */
  waitBefore(retry: number, failure: ProviderFailure): number {
    const wanted = failure.retryAfterMs ?? this.options.retryBaseMs * 2 ** (retry - 1);
    return Math.min(wanted, this.options.retryMaxWaitMs);
  }

  async route<T>(
    candidates: readonly ModelDefinition[],
    send: (provider: ProviderClient, model: ModelDefinition) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<Routed<T>> {
    const failures: FailedModel[] = [];
    for (const model of candidates) {
      const provider = this.options.providers.get(model.provider);
      if (!provider) continue;
      const key = circuitKey(model);
      const started = performance.now();
      let lastFailure: ProviderFailure | undefined;
      for (let attempt = 0; attempt <= this.options.maxRetries; attempt += 1) {
        if (!this.options.breakers.tryAcquire(key)) break;
        try {
          const value = await send(provider, model);
          this.options.breakers.recordSuccess(key);
          return { model, value, failures, latencyMs: Math.round(performance.now() - started) };
        } catch (error) {
          const failure = classifyFailure(error);
          if (failure.aborted || failure.clientError) {
            this.options.breakers.release(key);
            if (failure.aborted) throw error;
            throw badUserInput(`${model.id} refused the request: ${failure.reason}`, { field: 'input' });
          }
          this.options.breakers.recordFailure(key);
          lastFailure = failure;
          if (!failure.retryable || attempt === this.options.maxRetries || this.options.breakers.isOpen(key)) break;
          await this.sleep(this.waitBefore(attempt + 1, failure), signal);
        }
      }
      if (lastFailure) failures.push({ model, failure: lastFailure, latencyMs: Math.round(performance.now() - started) });
    }
    throw providersUnavailable(candidates, failures);
  }

  complete(candidates: readonly ModelDefinition[], request: Omit<ChatRequest, 'model'>): Promise<Routed<ChatResult>> {
    return this.route(candidates, (provider, model) => provider.complete({ ...request, model: model.id }), request.signal);
  }

  /**
   * Routed until the first part arrives, the only point where another model can still take over; what follows comes
   * from that model alone.
   */
  async openStream(
    candidates: readonly ModelDefinition[],
    request: Omit<ChatRequest, 'model'>,
  ): Promise<Routed<AsyncIterable<ChatStreamPart>>> {
    const routed = await this.route(
      candidates,
      async (provider, model) => {
        const parts = provider.stream({ ...request, model: model.id })[Symbol.asyncIterator]();
        const first = await parts.next();
        return { parts, first };
      },
      request.signal,
    );
    const { breakers } = this.options;
    const key = circuitKey(routed.model);
    async function* rest(): AsyncIterable<ChatStreamPart> {
      let next = routed.value.first;
      while (!next.done) {
        yield next.value;
        try {
          next = await routed.value.parts.next();
        } catch (error) {
          const failure = classifyFailure(error);
          if (failure.aborted) throw error;
          breakers.recordFailure(key);
          throw new StreamBrokeOff(`${routed.model.id} stopped answering mid-stream: ${failure.reason}`);
        }
      }
    }
    return { ...routed, value: rest() };
  }

  embed(candidates: readonly ModelDefinition[], texts: readonly string[], signal?: AbortSignal): Promise<Routed<EmbeddingResult>> {
    return this.route(candidates, (provider, model) => provider.embed(model.id, texts, signal), signal);
  }
}

function providersUnavailable(candidates: readonly ModelDefinition[], failures: readonly FailedModel[]) {
  const tried = failures.map(({ model, failure }) => `${model.id}: ${failure.reason}`);
  const skipped = candidates.filter((model) => !failures.some((failed) => failed.model === model)).map((model) => model.id);
  const parts = [...tried, ...(skipped.length > 0 ? [`${skipped.join(', ')}: circuit open`] : [])];
  // The failures travel with the error, for the usage records of the attempts; a client sees the message only.
  return Object.assign(clientError(ErrorCode.ServiceUnavailable, `No AI model could answer (${parts.join('; ')}); try again shortly`), {
    failures,
  });
}
