import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  OutboxEvent,
  Role,
  signIdentity,
  systemFork,
  tenantFork,
  type DomainEvent,
  type Identity,
  type RunningSubgraph,
} from '@nexusflow/kit';
import {
  createDeferred,
  createTempDirectory,
  createTestDatabase,
  postGraphQL,
  startSubgraphUnderTest,
  storageModes,
  testEnvironment,
} from '@nexusflow/kit/testing';
import type { AiServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';
import {
  answerWords,
  badRequest,
  breakMidStream,
  FakeLlmProviders,
  hang,
  malformedStream,
  serverError,
  tooManyRequests,
} from './support/fake-llm-providers.ts';

const COMPLETION = 'text model provider inputTokens outputTokens costUsd latencyMs finishReason';
const COMPLETE = `mutation ($input: CompletionInput!) { complete(input: $input) { ${COMPLETION} } }`;
const STREAM = `subscription ($input: CompletionInput!) { completionStream(input: $input) { delta completion { ${COMPLETION} } } }`;
const MODELS =
  '{ models { id provider capabilities contextWindow inputPricePerMillionTokens outputPricePerMillionTokens configured status } }';
const USAGE = `{ aiUsage(first: 100) { id userId operation provider model inputTokens outputTokens costUsd latencyMs cacheHit succeeded failure createdAt } }`;

const BREAKER_COOLDOWN_MS = 30_000;
/** The longest wait between attempts in these tests: a Retry-After of a second is waited this long. */
const RETRY_MAX_WAIT_MS = 60;

const user = (tenantId: string, roles = [Role.Member]): Extract<Identity, { kind: 'user' }> => ({
  kind: 'user',
  userId: randomUUID(),
  tenantId,
  roles,
});
const hello = (content = 'Say hello') => ({ messages: [{ role: 'USER', content }] });

type Completion = { text: string; model: string; provider: string; inputTokens: number; outputTokens: number; costUsd: number };
type ModelRow = { id: string; provider: string; status: string; configured: boolean; capabilities: string[] };
type UsageRow = {
  provider: string;
  model: string;
  succeeded: boolean;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  failure: string | null;
  userId: string | null;
};

/**
 * The AI subgraph with both providers pointing at local fakes that speak their HTTP APIs, so that the official SDKs do
 * the talking; the fakes fail on cue, and the service's clock (circuit cool-downs) is the test's.
 */
describe('the ai subgraph', () => {
  describe.each(storageModes(['postgres', 'redis']))('on $storage', ({ mode }) => {
    let fake: FakeLlmProviders;
    let ai: RunningSubgraph<AiServices>;
    /** A second instance on the same database and Redis, in postgres mode: the tenant's budget is shared. */
    let twin: RunningSubgraph<AiServices> | undefined;
    const clock = { now: Date.now() };
    const cleanups: (() => Promise<void>)[] = [];
    const clients: Client[] = [];
    const published: DomainEvent[] = [];

    beforeAll(async () => {
      fake = await FakeLlmProviders.start();
      cleanups.push(() => fake.close());
      const dataDir = await createTempDirectory(`ai-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = {
        PORT: '0',
        DATA_DIR: dataDir.path,
        LOG_LEVEL: 'silent',
        ...fake.environment,
        AI_RETRY_BASE_MS: '1',
        AI_RETRY_MAX_WAIT_MS: String(RETRY_MAX_WAIT_MS),
        AI_BREAKER_FAILURES: '3',
        AI_BREAKER_COOLDOWN_MS: String(BREAKER_COOLDOWN_MS),
        AI_REQUEST_TIMEOUT_MS: '500',
        REDIS_NAMESPACE: `nf-test-ai-${randomUUID()}`,
        // 100 requests an hour rather than a minute: the burst of 101 below is refused whatever time it takes.
        AI_RATE_LIMIT_WINDOW_SECONDS: '3600',
      };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'ai_behaviour');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
        env.REDIS_URL = testEnvironment.redisUrl!;
      }
      ai = await subgraph.start(env, { clock: () => clock.now });
      cleanups.push(() => ai.close());
      if (mode === 'postgres') {
        twin = await subgraph.start(env, { clock: () => clock.now });
        cleanups.push(() => twin!.close());
      }
      // Both instances' relays publish to the one in-process bus of this test process.
      const subscription = await ai.eventBus.subscribe(
        { queue: `ai-usage-${randomUUID()}`, bindings: ['ai.usage.recorded'] },
        async (event) => {
          published.push(event);
        },
      );
      cleanups.push(() => subscription.stop());
    });

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}, on = ai) =>
      postGraphQL<T>(on.graphqlUrl, query, { variables, headers: signIdentity(identity, on.config.internalSecret) });
    const complete = (identity: Identity, input: Record<string, unknown>, on = ai) =>
      ask<{ complete: Completion }>(identity, COMPLETE, { input }, on);
    const modelNamed = async (id: string) =>
      (await ask<{ models: ModelRow[] }>(user(randomUUID()), MODELS)).data!.models.find((model) => model.id === id)!;
    const usageOf = async (tenantId: string) => (await ask<{ aiUsage: UsageRow[] }>(user(tenantId, [Role.Owner]), USAGE)).data!.aiUsage;

    function stream(identity: Identity, input: Record<string, unknown>, onEvent = () => {}) {
      const client = createClient({
        url: ai.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: signIdentity(identity, ai.config.internalSecret),
        retryAttempts: 0,
      });
      clients.push(client);
      const events: { delta: string; completion: Completion | null }[] = [];
      const errors: unknown[] = [];
      const done = createDeferred();
      client.subscribe<{ completionStream: { delta: string; completion: Completion | null } }>(
        { query: STREAM, variables: { input } },
        {
          next: ({ data, errors: failed }) => {
            if (failed) errors.push(...failed);
            if (data) events.push(data.completionStream);
            onEvent();
          },
          error: (error) => {
            // A failure after the first event comes as graphql-ws's error message: a list of GraphQL errors.
            errors.push(...(Array.isArray(error) ? (error as unknown[]) : [error]));
            done.resolve();
          },
          complete: () => done.resolve(),
        },
      );
      return { events, errors, done: done.promise };
    }

    it('answers a completion through OpenAI with its tokens, cost and finish reason, and writes down its usage', async () => {
      const member = user(randomUUID());
      const answered = await complete(member, {
        messages: [
          { role: 'SYSTEM', content: 'Be brief' },
          { role: 'USER', content: 'Say hello' },
        ],
      });
      expect(answered.errors).toBeUndefined();
      expect(answered.data!.complete).toMatchObject({
        text: answerWords('openai').join(''),
        model: 'gpt-4o',
        provider: 'OPENAI',
        inputTokens: 4,
        outputTokens: 6,
        finishReason: 'STOP',
      });
      // gpt-4o: $2.50 a million tokens in, $10 out.
      expect(answered.data!.complete.costUsd).toBeCloseTo((4 * 2.5 + 6 * 10) / 1e6, 12);
      expect(fake.requestsTo('openai').at(-1)!.body).toMatchObject({
        model: 'gpt-4o',
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Say hello' },
        ],
      });
      expect(await usageOf(member.tenantId)).toEqual([
        expect.objectContaining({
          provider: 'OPENAI',
          model: 'gpt-4o',
          inputTokens: 4,
          outputTokens: 6,
          succeeded: true,
          userId: member.userId,
        }),
      ]);
    });

    it('publishes every usage record as ai.usage.recorded through the outbox', async () => {
      const member = user(randomUUID());
      await complete(member, hello());
      const [record] = await usageOf(member.tenantId);
      await expect.poll(() => published.filter((event) => event.tenantId === member.tenantId)).toHaveLength(1);
      const event = published.find((candidate) => candidate.tenantId === member.tenantId)!;
      expect(event).toMatchObject({
        type: 'ai.usage.recorded',
        payload: { provider: 'openai', model: 'gpt-4o', userId: member.userId, succeeded: true },
      });
      expect(event.payload.usageRecordId).toBe((record as unknown as { id: string }).id);
      const outbox = await systemFork(ai.database).find(OutboxEvent, { tenantId: member.tenantId });
      expect(outbox.map((row) => row.type)).toEqual(['ai.usage.recorded']);
    });

    it('streams the answer over WebSocket word by word, in order, then the summary', async () => {
      const member = user(randomUUID());
      const streamed = stream(member, { ...hello(), model: 'claude-sonnet-4-6' });
      await streamed.done;
      expect(streamed.errors).toEqual([]);
      expect(streamed.events.slice(0, -1).map((event) => event.delta)).toEqual(answerWords('anthropic'));
      expect(streamed.events.at(-1)).toMatchObject({
        delta: '',
        completion: { text: answerWords('anthropic').join(''), model: 'claude-sonnet-4-6', provider: 'ANTHROPIC', outputTokens: 6 },
      });
      expect(fake.requestsTo('anthropic').at(-1)!.body).toMatchObject({ model: 'claude-sonnet-4-6', stream: true });
      expect(await usageOf(member.tenantId)).toEqual([expect.objectContaining({ provider: 'ANTHROPIC', succeeded: true })]);
    });

    it('asks again after a malformed stream, and the client sees only the good answer', async () => {
      fake.script('openai', malformedStream);
      const streamed = stream(user(randomUUID()), hello());
      await streamed.done;
      expect(streamed.errors).toEqual([]);
      expect(streamed.events.slice(0, -1).map((event) => event.delta)).toEqual(answerWords('openai'));
    });

    it('ends a stream that breaks off after the first words with SERVICE_UNAVAILABLE, and records the failed attempt', async () => {
      const twoWordsReceived = createDeferred();
      fake.script('openai', breakMidStream(twoWordsReceived.promise));
      const member = user(randomUUID());
      const streamed = stream(member, hello(), () => {
        if (streamed.events.length === 2) twoWordsReceived.resolve();
      });
      await streamed.done;
      expect(streamed.events.map((event) => event.delta)).toEqual(answerWords('openai').slice(0, 2));
      expect(streamed.errors).toMatchObject([{ extensions: { code: 'SERVICE_UNAVAILABLE' } }]);
      expect(await usageOf(member.tenantId)).toEqual([
        expect.objectContaining({ provider: 'OPENAI', model: 'gpt-4o', succeeded: false, failure: expect.stringContaining('mid-stream') }),
      ]);
    });

    it('writes down the usage of a stream its client stops after the first words, counting the words it got', async () => {
      const stopped = createDeferred();
      fake.script('openai', breakMidStream(stopped.promise));
      const member = user(randomUUID());
      const client = createClient({
        url: ai.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: signIdentity(member, ai.config.internalSecret),
        retryAttempts: 0,
      });
      clients.push(client);
      const deltas: string[] = [];
      const twoWords = createDeferred();
      const stop = client.subscribe<{ completionStream: { delta: string } }>(
        { query: STREAM, variables: { input: hello() } },
        {
          next: ({ data }) => {
            deltas.push(data!.completionStream.delta);
            if (deltas.length === 2) twoWords.resolve();
          },
          error: () => {},
          complete: () => {},
        },
      );
      await twoWords.promise;
      stop();
      try {
        await expect.poll(() => usageOf(member.tenantId)).toHaveLength(1);
      } finally {
        stopped.resolve();
      }
      // "Hello from" is 2 tokens by the service's own count; the prompt, "Say hello", 4 with its framing as in the first test.
      expect(await usageOf(member.tenantId)).toEqual([
        expect.objectContaining({ provider: 'OPENAI', model: 'gpt-4o', succeeded: true, outputTokens: 2, userId: member.userId }),
      ]);
    });

    it('writes down the prompt of a stream stopped before its first words were asked for', async () => {
      const member = user(randomUUID());
      const events = await ai.services.features.stream(tenantFork(ai.database, member), member, {
        messages: [{ role: 'USER', content: 'Say hello' }],
      });
      await events[Symbol.asyncIterator]().return?.();
      expect(await usageOf(member.tenantId)).toEqual([
        expect.objectContaining({ provider: 'OPENAI', succeeded: true, outputTokens: 0, inputTokens: expect.any(Number) }),
      ]);
      expect((await usageOf(member.tenantId))[0]!.inputTokens).toBeGreaterThan(0);
    });

    it('waits as long as a 429 Retry-After asks, up to its cap, then retries the same model', async () => {
      fake.script('openai', tooManyRequests('1'));
      const before = fake.requestsTo('openai').length;
      const answered = await complete(user(randomUUID()), hello());
      expect(answered.data?.complete.provider).toBe('OPENAI');
      const [refused, retried] = fake.requestsTo('openai').slice(before);
      expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(RETRY_MAX_WAIT_MS - 1);
    });

    it('retries a request the provider never answers once the timeout has passed', async () => {
      fake.script('openai', hang);
      const before = fake.requestsTo('openai').length;
      const answered = await complete(user(randomUUID()), hello());
      expect(answered.data?.complete.provider).toBe('OPENAI');
      expect(fake.requestsTo('openai').length - before).toBe(2);
    });

    it('answers a request the provider calls invalid with BAD_USER_INPUT, trying no other provider', async () => {
      fake.script('openai', badRequest);
      const before = fake.requestsTo('anthropic').length;
      const refused = await complete(user(randomUUID()), hello());
      expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringContaining('HTTP 400') });
      expect(fake.requestsTo('anthropic')).toHaveLength(before);
    });

    it('moves to Anthropic when OpenAI keeps failing, with no error for the client, records both, and opens the circuit', async () => {
      fake.failAlways('openai', serverError);
      try {
        const member = user(randomUUID());
        const answered = await complete(member, { ...hello(), task: 'SUMMARIZE' });
        expect(answered.errors).toBeUndefined();
        expect(answered.data!.complete).toMatchObject({
          provider: 'ANTHROPIC',
          model: 'claude-haiku-4-5',
          text: answerWords('anthropic').join(''),
        });
        const usage = await usageOf(member.tenantId);
        expect(usage).toHaveLength(2);
        expect(usage).toContainEqual(
          expect.objectContaining({ provider: 'OPENAI', model: 'gpt-4o-mini', succeeded: false, costUsd: 0, failure: 'HTTP 500' }),
        );
        expect(usage).toContainEqual(expect.objectContaining({ provider: 'ANTHROPIC', model: 'claude-haiku-4-5', succeeded: true }));
        expect((await modelNamed('gpt-4o-mini')).status).toBe('OPEN_CIRCUIT');
        const metrics = await (await fetch(`${ai.url}/metrics`)).text();
        expect(metrics).toMatch(/ai_model_status\{[^}]*model="gpt-4o-mini"[^}]*\} 2/);

        // While the circuit is open, OpenAI is not even asked.
        const before = fake.requestsTo('openai').length;
        expect((await complete(member, { ...hello(), task: 'SUMMARIZE' })).data?.complete.provider).toBe('ANTHROPIC');
        expect(fake.requestsTo('openai')).toHaveLength(before);
      } finally {
        fake.recover('openai');
      }
    });

    it('half-opens the circuit after the cool-down and closes it when the trial succeeds', async () => {
      expect((await modelNamed('gpt-4o-mini')).status).toBe('OPEN_CIRCUIT');
      clock.now += BREAKER_COOLDOWN_MS;
      expect((await modelNamed('gpt-4o-mini')).status).toBe('DEGRADED');
      const answered = await complete(user(randomUUID()), { ...hello(), task: 'SUMMARIZE' });
      expect(answered.data?.complete).toMatchObject({ provider: 'OPENAI', model: 'gpt-4o-mini' });
      expect((await modelNamed('gpt-4o-mini')).status).toBe('HEALTHY');
    });

    it('refuses a request over 10,000 tokens with BAD_USER_INPUT naming the count, sending nothing', async () => {
      const before = fake.received.length;
      const refused = await complete(user(randomUUID()), hello('word '.repeat(10_000)));
      expect(refused.errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.messages' },
        message: expect.stringMatching(
          /^The request counts 11\d{3} tokens \(10\d{3} in its messages and 1024 of maxTokens\), more than the 10000/,
        ),
      });
      expect(fake.received).toHaveLength(before);
    });

    it(`refuses a tenant's 101st request in its window with RATE_LIMITED${mode === 'postgres' ? ', counted across two instances' : ''}`, async () => {
      const instances = twin ? [ai, twin] : [ai];
      const member = user(randomUUID());
      const before = fake.received.length;
      const answers = await Promise.all(
        Array.from({ length: 101 }, (_, index) => complete(member, hello(), instances[index % instances.length])),
      );
      const refusals = answers.flatMap((answer) => answer.errors ?? []);
      // One request's share of the hour, less what Redis's clock saw pass during the burst.
      expect(refusals).toMatchObject([{ extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) } }]);
      expect(refusals[0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
      expect(refusals[0]!.extensions!.retryAfterSeconds).toBeLessThanOrEqual(36);
      expect(refusals[0]!.message).toMatch(
        /^Too many AI requests for this tenant \(at most 100 every 3600 seconds\); try again in \d+ seconds?$/,
      );
      expect(fake.received.length - before).toBe(100);
      // Another tenant's budget is its own.
      expect((await complete(user(randomUUID()), hello(), instances.at(-1))).errors).toBeUndefined();
    });

    it('lists the catalogue with providers, capabilities, prices and live status to any signed-in user', async () => {
      const models = (await ask<{ models: ModelRow[] }>(user(randomUUID(), [Role.Viewer]), MODELS)).data!.models;
      expect(models).toContainEqual({
        id: 'text-embedding-3-small',
        provider: 'OPENAI',
        capabilities: ['EMBEDDINGS'],
        contextWindow: 8191,
        inputPricePerMillionTokens: 0.02,
        outputPricePerMillionTokens: 0,
        configured: true,
        status: 'HEALTHY',
      });
      expect(models.find((model) => model.id === 'claude-sonnet-4-6')).toMatchObject({
        provider: 'ANTHROPIC',
        capabilities: ['CHAT', 'STREAMING'],
      });
      expect((await ask({ kind: 'anonymous' }, MODELS)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('embeds texts through the OpenAI embeddings API for the document index, accounting for it', async () => {
      const tenantId = randomUUID();
      const embedded = await ai.services.models.embed(tenantId, ['first text', 'second one here']);
      expect(embedded).toMatchObject({ model: 'text-embedding-3-small', tokens: 5 });
      expect(embedded.vectors).toHaveLength(2);
      expect(fake.requestsTo('openai').at(-1)).toMatchObject({
        path: '/v1/embeddings',
        body: { input: ['first text', 'second one here'] },
      });
      expect(await usageOf(tenantId)).toEqual([
        expect.objectContaining({ operation: 'EMBEDDING', model: 'text-embedding-3-small', inputTokens: 5, userId: null, succeeded: true }),
      ]);
    });

    it('lets a VIEWER neither complete nor stream, and only an OWNER or ADMIN read the usage', async () => {
      const tenantId = randomUUID();
      const before = fake.received.length;
      expect((await complete(user(tenantId, [Role.Viewer]), hello())).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const streamed = stream(user(tenantId, [Role.Viewer]), hello());
      await streamed.done;
      expect(streamed.errors).toMatchObject([{ extensions: { code: 'FORBIDDEN' } }]);
      expect(fake.received).toHaveLength(before);
      expect((await ask(user(tenantId, [Role.Member]), USAGE)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await ask(user(tenantId, [Role.Admin]), USAGE)).data).toEqual({ aiUsage: [] });
    });

    it('answers malformed input and an unknown model with BAD_USER_INPUT naming the field', async () => {
      const member = user(randomUUID());
      expect((await complete(member, { messages: [] })).errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.messages' },
      });
      expect((await complete(member, { ...hello(), model: 'gpt-unknown' })).errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.model' },
      });
      expect((await complete(member, { ...hello(), model: 'text-embedding-3-small' })).errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.model' },
      });
      expect((await complete(member, { ...hello(), temperature: 3 })).errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.temperature' },
      });
    });
  });
});

describe('the ai subgraph without a provider configured', () => {
  let under: Awaited<ReturnType<typeof startSubgraphUnderTest<AiServices>>>;

  beforeAll(async () => {
    under = await startSubgraphUnderTest('ai-no-provider', (env) => subgraph.start(env));
  });

  afterAll(async () => {
    await under?.close();
  });

  it('answers AI operations with SERVICE_UNAVAILABLE, naming no setting to clients, and still lists the catalogue', async () => {
    const member = user(randomUUID());
    const refused = await under.ask(member, COMPLETE, { input: hello() });
    expect(refused.errors).toEqual([
      expect.objectContaining({ extensions: { code: 'SERVICE_UNAVAILABLE' }, message: 'No AI provider is configured on this deployment' }),
    ]);
    await expect(under.subgraph.services.models.embed(member.tenantId, ['text'])).rejects.toMatchObject({
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    });
    const models = await under.ask<{ models: ModelRow[] }>(member, '{ models { id configured status } }');
    expect(models.data!.models.every((model) => !model.configured)).toBe(true);
    expect((await under.ask(user(member.tenantId, [Role.Owner]), '{ aiUsage { id } }')).data).toEqual({ aiUsage: [] });
    expect(under.loggedErrors).toEqual([]);
  });
});
