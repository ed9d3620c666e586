/**
 * AI overhead benchmark: what the ai service adds to one completion. The same chat request is sent N times to a local
 * fake of the OpenAI API by the official `openai` SDK directly, then as the `complete` mutation to the ai subgraph (with
 * the identity signed, as the gateway sends it) and through the gateway (with an access token); the overhead is each
 * path's latency percentile minus the direct one's. Also timed: a repeated request at temperature 0 that the response
 * cache answers, through the subgraph.
 *
 *   npm run bench:ai-overhead -- [--mode embedded|postgres|both] [--requests 500] [--concurrency 1,16] [--json out.json]
 *
 * embedded: PGlite, in-process rate limit, cache and event bus. postgres: the real PostgreSQL, Redis (rate limit, cache)
 * and RabbitMQ (usage events), from TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL. Everything listens on
 * 127.0.0.1; the fake answers at once, so the figures are the service's own work: checks, tokenizer, routing, the SDK
 * inside the service, the usage row and its outbox event.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { Role, secretOrDevelopmentDefault, signAccessToken, signIdentity, type Identity } from '@nexusflow/kit';
import { postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { subgraphRouteVariable } from '@nexusflow/topology';
import { subgraph as aiSubgraph } from '../../subgraphs/nexusflow/ai/src/subgraph.ts';
import { FakeLlmProviders } from '../../subgraphs/nexusflow/ai/test/support/fake-llm-providers.ts';
import { routesFor, TestServices } from '../../test/support/services.ts';
import { formatTable, machineFacts, percentile, positiveInteger, progress, startWatchdog } from '../support.ts';

type Mode = 'embedded' | 'postgres';
type Path = 'direct (SDK)' | 'ai subgraph' | 'gateway' | 'ai subgraph, cache hit';

const COMPLETE = 'mutation ($input: CompletionInput!) { complete(input: $input) { text model inputTokens outputTokens } }';
const MESSAGES = [{ role: 'user' as const, content: 'Say hello' }];
const INPUT = { messages: [{ role: 'USER', content: 'Say hello' }] };
/** The service's default maxTokens, sent by the direct calls too so that the fake sees the same request. */
const MAX_TOKENS = 1024;
const WARMUP_REQUESTS = 50;
const RUN_BUDGET_MS = 20 * 60_000;

interface Options {
  modes: Mode[];
  requests: number;
  concurrencies: number[];
  json: string | undefined;
}

interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

interface Result {
  mode: Mode;
  concurrency: number;
  path: Path;
  requests: number;
  requestsPerSecond: number;
  latencyMs: Percentiles;
  /** This path's percentiles minus the direct path's, at the same concurrency. */
  overheadMs: Percentiles | null;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'both' },
      requests: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '1,16' },
      json: { type: 'string' },
    },
  });
  const modes: Mode[] = values.mode === 'both' ? ['embedded', 'postgres'] : [values.mode as Mode];
  for (const mode of modes) if (mode !== 'embedded' && mode !== 'postgres') throw new Error(`--mode: unknown mode ${String(mode)}`);
  if (modes.includes('postgres') && !(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl))
    throw new Error('postgres mode needs TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL');
  return {
    modes,
    requests: positiveInteger('requests', values.requests),
    concurrencies: values.concurrency.split(',').map((value) => positiveInteger('concurrency', value)),
    json: values.json,
  };
}

/** `total` calls of `send`, `concurrency` at a time; each call's latency in ms, ascending, and the calls per second. */
async function load(send: () => Promise<void>, total: number, concurrency: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      next += 1;
      const sent = performance.now();
      await send();
      latencies.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { latencies, requestsPerSecond: Math.round(total / seconds) };
}

const round = (ms: number) => Number(ms.toFixed(2));
const percentilesOf = (sorted: number[]): Percentiles => ({
  p50: round(percentile(sorted, 50)),
  p95: round(percentile(sorted, 95)),
  p99: round(percentile(sorted, 99)),
});

async function benchMode(mode: Mode, options: Options): Promise<Result[]> {
  progress(`${mode}: starting the fake OpenAI API, the ai subgraph and the gateway`);
  const fake = await FakeLlmProviders.start();
  const services = await TestServices.create(mode, 'bench_ai_overhead');
  try {
    const ai = await services.start(aiSubgraph, {
      ...(await services.environmentFor('ai')),
      OPENAI_API_KEY: fake.environment.OPENAI_API_KEY!,
      OPENAI_BASE_URL: fake.environment.OPENAI_BASE_URL!,
      AI_REQUESTS_PER_MINUTE: '1000000000',
    });
    const gateway = await services.startGateway('nexusflow', {
      ...routesFor('nexusflow', {}),
      [subgraphRouteVariable('ai')]: ai.graphqlUrl,
    });
    const identity: Extract<Identity, { kind: 'user' }> = {
      kind: 'user',
      userId: randomUUID(),
      tenantId: randomUUID(),
      roles: [Role.Member],
    };
    const token = (
      await signAccessToken(
        { userId: identity.userId, tenantId: identity.tenantId, roles: identity.roles },
        secretOrDevelopmentDefault(undefined),
        3600,
      )
    ).token;
    const client = new OpenAI({ apiKey: fake.environment.OPENAI_API_KEY, baseURL: fake.environment.OPENAI_BASE_URL, maxRetries: 0 });

    const answered = (response: { errors?: unknown[] }) => {
      if (response.errors) throw new Error(`the service answered with errors: ${JSON.stringify(response.errors)}`);
    };
    const paths: Record<Path, () => Promise<void>> = {
      'direct (SDK)': async () => {
        await client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_completion_tokens: MAX_TOKENS });
      },
      'ai subgraph': async () =>
        answered(
          await postGraphQL(ai.graphqlUrl, COMPLETE, {
            variables: { input: INPUT },
            headers: signIdentity(identity, ai.config.internalSecret),
          }),
        ),
      gateway: async () => answered(await postGraphQL(gateway.graphqlUrl, COMPLETE, { variables: { input: INPUT }, token })),
      'ai subgraph, cache hit': async () =>
        answered(
          await postGraphQL(ai.graphqlUrl, COMPLETE, {
            variables: { input: { ...INPUT, temperature: 0 } },
            headers: signIdentity(identity, ai.config.internalSecret),
          }),
        ),
    };

    const results: Result[] = [];
    for (const concurrency of options.concurrencies) {
      let direct: Percentiles | undefined;
      for (const [path, send] of Object.entries(paths) as [Path, () => Promise<void>][]) {
        await load(send, WARMUP_REQUESTS, concurrency);
        const { latencies, requestsPerSecond } = await load(send, options.requests, concurrency);
        const latencyMs = percentilesOf(latencies);
        direct ??= latencyMs;
        const overheadMs =
          path === 'direct (SDK)'
            ? null
            : { p50: round(latencyMs.p50 - direct.p50), p95: round(latencyMs.p95 - direct.p95), p99: round(latencyMs.p99 - direct.p99) };
        results.push({ mode, concurrency, path, requests: options.requests, requestsPerSecond, latencyMs, overheadMs });
        progress(`${mode}, concurrency ${concurrency}, ${path}: p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms, ${requestsPerSecond}/s`);
      }
    }
    return results;
  } finally {
    await services.close();
    await fake.close();
  }
}

async function main(): Promise<void> {
  const options = parseOptions();
  startWatchdog(RUN_BUDGET_MS);
  const results: Result[] = [];
  for (const mode of options.modes) results.push(...(await benchMode(mode, options)));
  const signed = (ms: number) => (ms >= 0 ? `+${ms.toFixed(1)}` : ms.toFixed(1));
  console.log(
    formatTable(
      ['storage', 'conc.', 'path', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'req/s', 'overhead p50', 'p95', 'p99'],
      results.map((result) => [
        result.mode === 'postgres' ? 'PostgreSQL, Redis' : 'embedded',
        String(result.concurrency),
        result.path,
        result.latencyMs.p50.toFixed(1),
        result.latencyMs.p95.toFixed(1),
        result.latencyMs.p99.toFixed(1),
        String(result.requestsPerSecond),
        result.overheadMs ? signed(result.overheadMs.p50) : '',
        result.overheadMs ? signed(result.overheadMs.p95) : '',
        result.overheadMs ? signed(result.overheadMs.p99) : '',
      ]),
    ),
  );
  if (options.json) await writeFile(options.json, JSON.stringify({ machine: machineFacts(), results }, null, 2));
}

await main();
