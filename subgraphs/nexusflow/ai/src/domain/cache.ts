import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '@nexusflow/kit';
import type { ChatMessage, FinishReason } from './providers.ts';

/** Strings by key, each kept for a number of seconds: Redis, shared by every instance, or this process's memory. */
export interface CacheStore {
  getMany(keys: readonly string[]): Promise<(string | undefined)[]>;
  setMany(entries: readonly (readonly [string, string])[], ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}

/** The embedded stand-in: bounded by entry count, least recently used first out. */
export class InProcessCacheStore implements CacheStore {
  private readonly entries: LRUCache<string, string>;

  constructor(maxEntries: number, now: () => number) {
    this.entries = new LRUCache<string, string>({ max: maxEntries, perf: { now } });
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    return keys.map((key) => this.entries.get(key));
  }

  async setMany(entries: readonly (readonly [string, string])[], ttlSeconds: number): Promise<void> {
    for (const [key, value] of entries) this.entries.set(key, value, { ttl: ttlSeconds * 1000 });
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

/** How long requests wait, at start, for the first connection to a Redis that neither accepts nor refuses it. */
const FIRST_CONNECTION_WAIT_MS = 2_000;

/** One key per answer, expiring with the TTL: Redis's own eviction policy bounds the memory. */
export class RedisCacheStore implements CacheStore {
  private readonly redis: Redis;
  /** Settles when the first connection succeeds or fails. */
  private readonly firstConnection: Promise<void>;

  constructor(url: string, logger: Logger, commandTimeoutMs = 250) {
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      commandTimeout: commandTimeoutMs,
      // A cache that cannot answer at once is a miss: no command waits for a connection that may never come back.
      enableOfflineQueue: false,
      connectionName: 'nexusflow-ai-cache',
    });
    this.redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'AI response cache redis error'));
    this.firstConnection = new Promise((resolve) => {
      this.redis.once('ready', resolve);
      this.redis.once('close', resolve);
    });
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    await this.connected();
    const values = await this.redis.mget(...keys);
    return values.map((value) => value ?? undefined);
  }

  async setMany(entries: readonly (readonly [string, string])[], ttlSeconds: number): Promise<void> {
    await this.connected();
    const pipeline = this.redis.pipeline();
    for (const [key, value] of entries) pipeline.set(key, value, 'EX', ttlSeconds);
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** The requests of the first moments wait for the first connection (a refused one fails at once); later ones never wait. */
  private async connected(): Promise<void> {
    if (this.ready) return;
    await Promise.race([this.firstConnection, delay(FIRST_CONNECTION_WAIT_MS, undefined, { ref: false })]);
    if (!this.ready) throw new Error(`not connected to Redis (${this.redis.status})`);
  }

  private get ready(): boolean {
    return this.redis.status === 'ready';
  }
}

/** What a cached completion keeps: the answer and what it was, not what it cost (a hit costs nothing). */
export interface CachedCompletion {
  text: string;
  model: string;
  provider: string;
  inputTokens: number;
  outputTokens: number;
  finishReason: FinishReason;
}

/** Everything that decides a deterministic completion's answer. */
export interface CompletionRequestKey {
  tenantId: string;
  /** The models the request may be answered by, in order (what was asked for, the route of its task and plan). */
  models: readonly string[];
  messages: readonly ChatMessage[];
  temperature: number;
  maxTokens: number;
}

/** Bumped when what is stored changes shape, so that no instance reads another version's entries. */
const FORMAT = 'v1';

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

export interface ResponseCacheOptions {
  redisUrl: string | undefined;
  namespace: string;
  /** 0 turns the cache off. */
  ttlSeconds: number;
  /** The in-process store's bound; Redis's is its own memory policy. */
  maxEntries: number;
  logger: Logger;
  now: () => number;
}

/**
 * Answers that the same request would get again: completions at temperature 0 and embeddings, both per tenant. A vector
 * would be the same for any tenant, but a shared entry would tell one tenant (by its cache hit, or its speed) that
 * another had embedded the very same text.
 * A store that fails is a miss, logged: the cache saves money and time, and its outage must cost neither an answer.
 */
export class ResponseCache {
  constructor(
    private readonly store: CacheStore | undefined,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {}

  static create(options: ResponseCacheOptions): ResponseCache {
    const prefix = `${options.namespace}:ai:cache:${FORMAT}:`;
    if (options.ttlSeconds === 0) return new ResponseCache(undefined, prefix, 0, options.logger);
    const store = options.redisUrl
      ? new RedisCacheStore(options.redisUrl, options.logger)
      : new InProcessCacheStore(options.maxEntries, options.now);
    return new ResponseCache(store, prefix, options.ttlSeconds, options.logger);
  }

  completionKey(request: CompletionRequestKey): string {
    const { tenantId, ...decisive } = request;
    return `${this.prefix}completion:${tenantId}:${sha256(JSON.stringify(decisive))}`;
  }

  async completion(key: string): Promise<CachedCompletion | undefined> {
    const [value] = await this.read([key]);
    return value === undefined ? undefined : (JSON.parse(value) as CachedCompletion);
  }

  async keepCompletion(key: string, completion: CachedCompletion): Promise<void> {
    await this.write([[key, JSON.stringify(completion)]]);
  }

  /** Each text's vector under `model`, where the cache has it. */
  async embeddings(tenantId: string, model: string, texts: readonly string[]): Promise<(number[] | undefined)[]> {
    const values = await this.read(texts.map((text) => this.embeddingKey(tenantId, model, text)));
    return values.map((value) => (value === undefined ? undefined : (JSON.parse(value) as number[])));
  }

  async keepEmbeddings(tenantId: string, model: string, texts: readonly string[], vectors: readonly number[][]): Promise<void> {
    await this.write(texts.map((text, index) => [this.embeddingKey(tenantId, model, text), JSON.stringify(vectors[index])] as const));
  }

  close(): Promise<void> {
    return this.store?.close() ?? Promise.resolve();
  }

  private embeddingKey(tenantId: string, model: string, text: string): string {
    return `${this.prefix}embedding:${tenantId}:${sha256(JSON.stringify([model, text]))}`;
  }

  private async read(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (!this.store || keys.length === 0) return keys.map(() => undefined);
    try {
      return await this.store.getMany(keys);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'AI response cache unavailable; asking the provider');
      return keys.map(() => undefined);
    }
  }

  private async write(entries: readonly (readonly [string, string])[]): Promise<void> {
    if (!this.store || entries.length === 0) return;
    try {
      await this.store.setMany(entries, this.ttlSeconds);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'AI response cache unavailable; the answer is not kept');
    }
  }
}
