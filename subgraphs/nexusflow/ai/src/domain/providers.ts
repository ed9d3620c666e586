import Anthropic from '@anthropic-ai/sdk';
import type { Logger } from '@nexusflow/kit';
import OpenAI from 'openai';
import type { ProviderName } from './catalogue.ts';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export type FinishReason = 'STOP' | 'LENGTH' | 'CONTENT_FILTER' | 'OTHER';

export interface ChatRequest {
  model: string;
  messages: readonly ChatMessage[];
  temperature?: number;
  maxTokens: number;
  signal?: AbortSignal;
}

/** Token counts are the provider's when it reports them. */
export interface ChatResult {
  text: string;
  finishReason: FinishReason;
  inputTokens?: number;
  outputTokens?: number;
}

export type ChatStreamPart = { kind: 'delta'; text: string } | ({ kind: 'end' } & Omit<ChatResult, 'text'>);

export interface EmbeddingResult {
  vectors: number[][];
  inputTokens?: number;
}

/** What the router needs of a provider; the official SDKs do the talking, with their own retries off (the router retries). */
export interface ProviderClient {
  readonly name: ProviderName;
  complete(request: ChatRequest): Promise<ChatResult>;
  stream(request: ChatRequest): AsyncIterable<ChatStreamPart>;
  embed(model: string, texts: readonly string[], signal?: AbortSignal): Promise<EmbeddingResult>;
}

export interface ProviderSettings {
  apiKey: string;
  baseUrl?: string | undefined;
  timeoutMs: number;
  logger: Logger;
}

/**
 * What the SDKs log (e.g. an event that is not JSON) goes to the service's log at debug level: the router handles the
 * failure it precedes, and logs what matters.
 */
function sdkLogger(logger: Logger, provider: ProviderName) {
  const log = (message: string, ...details: unknown[]) => logger.debug({ provider, details }, message);
  return { error: log, warn: log, info: log, debug: log };
}

function openAiFinish(reason: string | null | undefined): FinishReason {
  if (reason === 'stop' || reason === 'tool_calls') return 'STOP';
  if (reason === 'length') return 'LENGTH';
  if (reason === 'content_filter') return 'CONTENT_FILTER';
  return 'OTHER';
}

export class OpenAiProvider implements ProviderClient {
  readonly name = 'openai';
  private readonly client: OpenAI;

  constructor(settings: ProviderSettings) {
    this.client = new OpenAI({
      apiKey: settings.apiKey,
      ...(settings.baseUrl ? { baseURL: settings.baseUrl } : {}),
      timeout: settings.timeoutMs,
      maxRetries: 0,
      logger: sdkLogger(settings.logger, 'openai'),
    });
  }

  private body(request: ChatRequest) {
    return {
      model: request.model,
      messages: request.messages.map(({ role, content }) => ({ role, content })),
      max_completion_tokens: request.maxTokens,
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    };
  }

  async complete(request: ChatRequest): Promise<ChatResult> {
    const response = await this.client.chat.completions.create(this.body(request), { signal: request.signal });
    const choice = response.choices[0];
    return {
      text: choice?.message.content ?? '',
      finishReason: openAiFinish(choice?.finish_reason),
      inputTokens: response.usage?.prompt_tokens,
      outputTokens: response.usage?.completion_tokens,
    };
  }

  async *stream(request: ChatRequest): AsyncIterable<ChatStreamPart> {
    const chunks = await this.client.chat.completions.create(
      { ...this.body(request), stream: true, stream_options: { include_usage: true } },
      { signal: request.signal },
    );
    let finishReason: FinishReason = 'OTHER';
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    for await (const chunk of chunks) {
      const choice = chunk.choices[0];
      if (choice?.delta.content) yield { kind: 'delta', text: choice.delta.content };
      if (choice?.finish_reason) finishReason = openAiFinish(choice.finish_reason);
      if (chunk.usage) usage = chunk.usage;
    }
    yield { kind: 'end', finishReason, inputTokens: usage?.prompt_tokens, outputTokens: usage?.completion_tokens };
  }

  async embed(model: string, texts: readonly string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    const response = await this.client.embeddings.create({ model, input: [...texts], encoding_format: 'float' }, { signal });
    const ordered = [...response.data].sort((left, right) => left.index - right.index);
    return { vectors: ordered.map((item) => item.embedding), inputTokens: response.usage?.prompt_tokens };
  }
}

function anthropicFinish(reason: string | null | undefined): FinishReason {
  if (reason === 'end_turn' || reason === 'stop_sequence' || reason === 'tool_use') return 'STOP';
  if (reason === 'max_tokens') return 'LENGTH';
  if (reason === 'refusal') return 'CONTENT_FILTER';
  return 'OTHER';
}

export class AnthropicProvider implements ProviderClient {
  readonly name = 'anthropic';
  private readonly client: Anthropic;

  constructor(settings: ProviderSettings) {
    this.client = new Anthropic({
      apiKey: settings.apiKey,
      ...(settings.baseUrl ? { baseURL: settings.baseUrl } : {}),
      timeout: settings.timeoutMs,
      maxRetries: 0,
      logger: sdkLogger(settings.logger, 'anthropic'),
    });
  }

  /** Anthropic takes the system prompt beside the conversation, not in it. */
  private body(request: ChatRequest) {
    const system = request.messages
      .filter((message) => message.role === 'system')
      .map((message) => message.content)
      .join('\n\n');
    return {
      model: request.model,
      max_tokens: request.maxTokens,
      messages: request.messages
        .filter((message): message is ChatMessage & { role: 'user' | 'assistant' } => message.role !== 'system')
        .map(({ role, content }) => ({ role, content })),
      ...(system ? { system } : {}),
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    };
  }

  async complete(request: ChatRequest): Promise<ChatResult> {
    const message = await this.client.messages.create(this.body(request), { signal: request.signal });
    return {
      text: message.content.map((block) => (block.type === 'text' ? block.text : '')).join(''),
      finishReason: anthropicFinish(message.stop_reason),
      inputTokens: message.usage.input_tokens,
      outputTokens: message.usage.output_tokens,
    };
  }

  async *stream(request: ChatRequest): AsyncIterable<ChatStreamPart> {
    const events = await this.client.messages.create({ ...this.body(request), stream: true }, { signal: request.signal });
    let inputTokens: number | undefined;
    let outputTokens: number | undefined;
    let finishReason: FinishReason = 'OTHER';
    for await (const event of events) {
      if (event.type === 'message_start') inputTokens = event.message.usage.input_tokens;
      else if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') yield { kind: 'delta', text: event.delta.text };
      else if (event.type === 'message_delta') {
        finishReason = anthropicFinish(event.delta.stop_reason);
        outputTokens = event.usage.output_tokens;
      }
    }
    yield { kind: 'end', finishReason, inputTokens, outputTokens };
  }

  embed(): Promise<EmbeddingResult> {
    return Promise.reject(new Error('Anthropic has no embeddings API'));
  }
}

export function createProviders(
  configured: { openai?: { apiKey: string; baseUrl?: string | undefined }; anthropic?: { apiKey: string; baseUrl?: string | undefined } },
  timeoutMs: number,
  logger: Logger,
): Map<ProviderName, ProviderClient> {
  const providers = new Map<ProviderName, ProviderClient>();
  if (configured.openai) providers.set('openai', new OpenAiProvider({ ...configured.openai, timeoutMs, logger }));
  if (configured.anthropic) providers.set('anthropic', new AnthropicProvider({ ...configured.anthropic, timeoutMs, logger }));
  return providers;
}
