import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Role, signIdentity, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, TcpProxy, testEnvironment } from '@nexusflow/kit/testing';
import { TestServices } from '../../../../test/support/services.ts';
import type { AiServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';
import { answerWords, FakeLlmProviders } from './support/fake-llm-providers.ts';

const COMPLETE =
  'mutation ($input: CompletionInput!) { complete(input: $input) { text model provider inputTokens outputTokens costUsd cacheHit } }';
const EMBED = 'mutation ($texts: [String!]!) { embed(texts: $texts) { model vectors } }';
const USAGE = '{ aiUsage(first: 100) { operation provider model inputTokens outputTokens costUsd cacheHit succeeded } }';
const STREAM = 'subscription ($input: CompletionInput!) { completionStream(input: $input) { delta } }';

const TTL_SECONDS = 600;
/** Small enough to reach in a test, large enough for each test's fresh tenant. */
const REQUESTS_PER_WINDOW = 5;

const member = (tenantId: string = randomUUID()): Extract<Identity, { kind: 'user' }> => ({
  kind: 'user',
  userId: randomUUID(),
  tenantId,
  roles: [Role.Member],
});
const deterministic = (content = 'Say hello') => ({ messages: [{ role: 'USER', content }], temperature: 0 });

type Completion = {
  text: string;
  model: string;
  provider: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  cacheHit: boolean;
};
type UsageRow = { operation: string; provider: string; model: string; inputTokens: number; costUsd: number; cacheHit: boolean };

/**
 * Repeated deterministic completions and embeddings are answered from the cache, in this process's memory or, with
 * REDIS_URL, in Redis (reached through a proxy, so that one test can take it away).
 */
describe('the AI response cache', () => {
  describe.each(storageModes(['postgres', 'redis']))('on $storage', ({ mode }) => {
    let fake: FakeLlmProviders;
    let ai: RunningSubgraph<AiServices>;
    let redisProxy: TcpProxy | undefined;
    const clock = { now: Date.now() };
    const warnings: string[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    const namespace = `nf-test-ai-cache-${randomUUID()}`;

    beforeAll(async () => {
      fake = await FakeLlmProviders.start();
      cleanups.push(() => fake.close());
      const dataDir = await createTempDirectory(`ai-cache-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = {
        PORT: '0',
        DATA_DIR: dataDir.path,
        LOG_LEVEL: 'silent',
        ...fake.environment,
        REDIS_NAMESPACE: namespace,
        AI_CACHE_TTL_SECONDS: String(TTL_SECONDS),
        AI_REQUESTS_PER_MINUTE: String(REQUESTS_PER_WINDOW),
        AI_RATE_LIMIT_WINDOW_SECONDS: '3600',
      };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'ai_cache');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
        const proxy = await TcpProxy.start(testEnvironment.redisUrl);
        cleanups.push(() => proxy.close());
        env.REDIS_URL = proxy.urlFor(testEnvironment.redisUrl!);
        redisProxy = proxy;
      }
      ai = await subgraph.start(env, { clock: () => clock.now });
      cleanups.push(() => ai.close());
      const warn = ai.logger.warn.bind(ai.logger);
      ai.logger.warn = (fields: unknown, message?: string) => {
        warnings.push(typeof fields === 'string' ? fields : (message ?? ''));
        return warn(fields, message);
      };
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}) =>
      postGraphQL<T>(ai.graphqlUrl, query, { variables, headers: signIdentity(identity, ai.config.internalSecret) });
    const complete = (identity: Identity, input: Record<string, unknown>) => ask<{ complete: Completion }>(identity, COMPLETE, { input });
    const usageOf = async (tenantId: string) =>
      (await ask<{ aiUsage: UsageRow[] }>({ ...member(tenantId), roles: [Role.Owner] }, USAGE)).data!.aiUsage;
    const chatRequests = () => fake.received.filter((request) => request.path.endsWith('/chat/completions')).length;
    const embeddingRequests = () => fake.requestsTo('openai').filter((request) => request.path === '/v1/embeddings');

    it('answers a second identical completion at temperature 0 from the cache, asking the provider once, at no cost', async () => {
      const caller = member();
      const before = chatRequests();
      const first = await complete(caller, deterministic());
      const second = await complete(caller, deterministic());
      expect(chatRequests() - before).toBe(1);
      expect(first.data!.complete).toMatchObject({ text: answerWords('openai').join(''), cacheHit: false, model: 'gpt-4o' });
      expect(first.data!.complete.costUsd).toBeGreaterThan(0);
      expect(second.data!.complete).toEqual({ ...first.data!.complete, costUsd: 0, cacheHit: true });
      const usage = await usageOf(caller.tenantId);
      expect(usage).toHaveLength(2);
      expect(usage).toContainEqual(expect.objectContaining({ operation: 'COMPLETION', cacheHit: true, costUsd: 0, model: 'gpt-4o' }));
      expect(usage).toContainEqual(expect.objectContaining({ operation: 'COMPLETION', cacheHit: false, model: 'gpt-4o' }));
    });

    it('asks the provider every time for a completion that is not at temperature 0, or that differs in any parameter', async () => {
      const caller = member();
      const before = fake.received.length;
      await complete(caller, { messages: [{ role: 'USER', content: 'Say hello' }] });
      await complete(caller, { messages: [{ role: 'USER', content: 'Say hello' }] });
      await complete(caller, { ...deterministic(), maxTokens: 64 });
      await complete(caller, { ...deterministic(), maxTokens: 65 });
      await complete(caller, { ...deterministic(), model: 'claude-sonnet-4-6' });
      expect(fake.received.length - before).toBe(5);
      expect(fake.requestsTo('anthropic').at(-1)!.body).toMatchObject({ model: 'claude-sonnet-4-6', temperature: 0 });
      expect((await usageOf(caller.tenantId)).every((row) => !row.cacheHit)).toBe(true);
    });

    it('streams from the provider even when the same request at temperature 0 is cached', async () => {
      const caller = member();
      await complete(caller, deterministic('Stream this'));
      const before = chatRequests();
      const client = createClient({
        url: ai.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: signIdentity(caller, ai.config.internalSecret),
        retryAttempts: 0,
      });
      try {
        const deltas: string[] = [];
        for await (const event of client.iterate<{ completionStream: { delta: string } }>({
          query: STREAM,
          variables: { input: deterministic('Stream this') },
        }))
          deltas.push(event.data!.completionStream.delta);
        expect(deltas.join('')).toBe(answerWords('openai').join(''));
      } finally {
        await client.dispose();
      }
      expect(chatRequests() - before).toBe(1);
    });

    it("never answers a tenant with another tenant's cached completion", async () => {
      const before = chatRequests();
      const first = await complete(member(), deterministic('Our secret plan'));
      const other = await complete(member(), deterministic('Our secret plan'));
      expect(chatRequests() - before).toBe(2);
      expect(first.data!.complete.cacheHit).toBe(false);
      expect(other.data!.complete.cacheHit).toBe(false);
    });

    it("keeps a tenant's embeddings for that tenant, sending only the texts its cache lacks", async () => {
      const caller = member();
      const before = embeddingRequests().length;
      type Embedded = { embed: { vectors: number[][] } };
      const embedded = await ask<Embedded>(caller, EMBED, { texts: ['alpha text', 'beta text'] });
      const again = await ask<Embedded>(caller, EMBED, { texts: ['beta text', 'alpha text', 'gamma text'] });
      const [alpha, beta] = embedded.data!.embed.vectors;
      expect(again.data!.embed.vectors.slice(0, 2)).toEqual([beta, alpha]);
      await ask(caller, EMBED, { texts: ['gamma text'] });
      const other = member();
      await ask(other, EMBED, { texts: ['alpha text'] });
      const sent = embeddingRequests().slice(before);
      expect(sent.map((request) => request.body.input)).toEqual([['alpha text', 'beta text'], ['gamma text'], ['alpha text']]);
      expect(await usageOf(caller.tenantId)).toContainEqual(
        expect.objectContaining({ operation: 'EMBEDDING', model: 'text-embedding-3-small', cacheHit: true, costUsd: 0, inputTokens: 2 }),
      );
      expect(await usageOf(other.tenantId)).toEqual([expect.objectContaining({ operation: 'EMBEDDING', cacheHit: false })]);
    });

    it("counts an answer from the cache against the tenant's request limit", async () => {
      const caller = member();
      const before = chatRequests();
      for (let sent = 0; sent < REQUESTS_PER_WINDOW; sent += 1) expect((await complete(caller, deterministic())).errors).toBeUndefined();
      const refused = await complete(caller, deterministic());
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
      expect(chatRequests() - before).toBe(1);
    });

    it('keeps an answer for AI_CACHE_TTL_SECONDS, then asks the provider again', async () => {
      const caller = member();
      const before = chatRequests();
      await complete(caller, deterministic('Remember me'));
      if (mode === 'embedded') {
        clock.now += (TTL_SECONDS - 1) * 1000;
        expect((await complete(caller, deterministic('Remember me'))).data!.complete.cacheHit).toBe(true);
        clock.now += 2000;
        expect((await complete(caller, deterministic('Remember me'))).data!.complete.cacheHit).toBe(false);
        expect(chatRequests() - before).toBe(2);
        return;
      }
      // Redis expires the key by its own clock: the key's TTL is what can be seen.
      const redis = new Redis(testEnvironment.redisUrl!);
      try {
        const keys = await redis.keys(`${namespace}:ai:cache:*:completion:${caller.tenantId}:*`);
        expect(keys).toHaveLength(1);
        const ttl = await redis.ttl(keys[0]!);
        expect(ttl).toBeGreaterThan(TTL_SECONDS - 60);
        expect(ttl).toBeLessThanOrEqual(TTL_SECONDS);
      } finally {
        redis.disconnect();
      }
    });

    it.skipIf(mode === 'embedded')(
      'answers every request while Redis is down, asking the provider each time, and says so in the log (with Redis only: the embedded cache has no server to lose)',
      async () => {
        const caller = member();
        redisProxy!.takeDown();
        try {
          const before = chatRequests();
          const answers = [await complete(caller, deterministic('Redis is gone')), await complete(caller, deterministic('Redis is gone'))];
          expect(answers.map((answer) => answer.errors)).toEqual([undefined, undefined]);
          expect(answers.map((answer) => answer.data!.complete.cacheHit)).toEqual([false, false]);
          expect(chatRequests() - before).toBe(2);
          expect(warnings).toContain('AI response cache unavailable; asking the provider');
        } finally {
          redisProxy!.bringUp();
        }
      },
    );
  });

  it('is off when AI_CACHE_TTL_SECONDS is 0', async () => {
    const fake = await FakeLlmProviders.start();
    // Started from a migrated template: a second subgraph start must stay quick on a busy machine.
    const services = await TestServices.create('embedded', 'ai_cache_off');
    try {
      const off = await services.start(subgraph, {
        ...(await services.environmentFor('ai')),
        ...fake.environment,
        AI_CACHE_TTL_SECONDS: '0',
      });
      const caller = member();
      for (let sent = 0; sent < 2; sent += 1) {
        const answered = await postGraphQL<{ complete: Completion }>(off.graphqlUrl, COMPLETE, {
          variables: { input: deterministic() },
          headers: signIdentity(caller, off.config.internalSecret),
        });
        expect(answered.data!.complete.cacheHit).toBe(false);
      }
      expect(fake.received).toHaveLength(2);
    } finally {
      await services.close();
      await fake.close();
    }
  });
});
