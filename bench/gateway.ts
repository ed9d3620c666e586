/**
 * Gateway benchmark suite: our gateway measured side by side with what it is compared against, in one run,
 * so that each figure is a ratio that holds on a noisy machine.
 *
 *   npm run bench:gateway -- [--seconds 10] [--warmup 2] [--connections 50] [--rounds 2] [--only deep,direct,statements,startup] [--json out.json]
 *
 * 1. deep       The shared federation benchmark's deep query (four subgraphs, about 86 KB per response) through
 *               our gateway and through unmodified @apollo/gateway + @apollo/server: throughput, latency, peak RSS.
 *               The subgraphs answer repeated requests from memory (see bench/gateway/fixture/server.ts).
 * 2. direct     A query served by one subgraph (executing every request), straight to it and through each gateway.
 * 3. statements SQL statements per request for lists of 1, 10, 100 and 1,000 federated entities on the real
 *               NexusFlow subgraphs (embedded storage): the count must not grow with the list.
 * 4. startup    Process start to first served deep query, for each gateway; composition time.
 *
 * Everything listens on 127.0.0.1; every phase has a fixed duration, so the run stops by itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { signIdentity, type Role } from '@nexusflow/kit/core';
import { postGraphQL } from '@nexusflow/kit/testing';
import { composeSupergraph, readSupergraphConfig } from '@nexusflow/schema-registry';
import { RegisterDocument } from '@nexusflow/web-client';
import { GATEWAY, supergraphConfigFile } from '../scripts/topology.ts';
import {
  DEEP_QUERY,
  FIXTURE_SUBGRAPHS,
  FIXTURE_SUBGRAPH_NAMES,
  SINGLE_SUBGRAPH_QUERY,
  type FixtureSubgraphName,
} from './gateway/fixture/subgraphs.ts';
import { runLoad, type LoadResult } from './gateway/load.ts';
import { formatTable, machineFacts } from './support.ts';
import { benchGatewayEnvironment, everyWorkerServing, firstAnswer, ready, startProcess, type BenchProcess } from './gateway/processes.ts';
import { measureStatements, type StatementsResult } from './gateway/statements.ts';

const SCENARIOS = ['deep', 'direct', 'statements', 'startup'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string', default: SCENARIOS.join(',') },
    /** The deep query's variants to run (names of DEEP_VARIANTS, separated by commas without a space); all by default. */
    variants: { type: 'string' },
    json: { type: 'string' },
  },
});
const options = {
  seconds: Number(flags.seconds),
  warmup: Number(flags.warmup),
  connections: Number(flags.connections),
  rounds: Number(flags.rounds),
  only: new Set(flags.only.split(',').map((name) => name.trim()) as Scenario[]),
};
for (const name of options.only) if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.join(', ')}`);

const SECRET = randomBytes(32).toString('hex');
type GatewayName = 'ours' | 'stock';
/**
 * The deep query's gateways. Each gateway runs as it is deployed: ours with the heap budget of scripts/topology.ts,
 * stock with V8's defaults, as its documentation runs it. Each is also run the other way, so that memory can be
 * compared like for like, and ours once more with request deduplication (off by default).
 */
const DEEP_VARIANTS = [
  { name: 'ours', gateway: 'ours', nodeOptions: GATEWAY.nodeOptions, env: {} },
  { name: 'stock', gateway: 'stock', nodeOptions: [], env: {} },
  { name: 'ours, V8 default heap', gateway: 'ours', nodeOptions: [], env: {} },
  { name: 'stock, heap budget', gateway: 'stock', nodeOptions: GATEWAY.nodeOptions, env: {} },
  { name: 'ours+dedup', gateway: 'ours', nodeOptions: GATEWAY.nodeOptions, env: { REQUEST_DEDUPLICATION: 'true' } },
  // The multi-process mode, as Hive Gateway's fork mode: its figures are those of the whole machine, shared with the load.
  {
    name: 'ours, one worker per core',
    gateway: 'ours',
    nodeOptions: GATEWAY.nodeOptions,
    env: { GATEWAY_WORKERS: 'auto', METRICS_TOKEN: SECRET },
  },
] as const;
type DeepVariant = (typeof DEEP_VARIANTS)[number]['name'];
/** Names are separated by commas without a space after them: a name such as "ours, V8 default heap" has one with. */
const wantedVariants = flags.variants?.split(/,(?! )/).map((wanted) => wanted.trim());
const deepVariants = wantedVariants ? DEEP_VARIANTS.filter(({ name }) => wantedVariants.includes(name)) : DEEP_VARIANTS;
if (flags.variants && deepVariants.length === 0)
  throw new Error(`no such variant; known: ${DEEP_VARIANTS.map(({ name }) => name).join(', ')}`);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function composeFixture(urls: Record<FixtureSubgraphName, string>): string {
  return composeSupergraph(FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs })));
}

/** Starts a gateway on the supergraph file and returns it once it answered `probe` (which is what start-up time measures). */
async function startGateway(
  name: GatewayName,
  supergraphFile: string,
  probe: string,
  {
    env: extraEnv = {},
    nodeOptions = name === 'ours' ? GATEWAY.nodeOptions : [],
  }: { env?: NodeJS.ProcessEnv; nodeOptions?: readonly string[] } = {},
): Promise<BenchProcess & { url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/${name === 'ours' ? 'graphql' : ''}`;
  const env: NodeJS.ProcessEnv = { ...benchGatewayEnvironment({ secret: SECRET, supergraphFile, port }), ...extraEnv };
  const entry = name === 'ours' ? 'gateway/src/main.ts' : 'bench/gateway/stock-gateway.ts';
  const args = name === 'ours' ? [] : ['--supergraph', supergraphFile, '--port', String(port)];
  // Load must not start before every worker listens: connections opened earlier would all stay on the first one.
  const everyWorker = async () =>
    extraEnv.GATEWAY_WORKERS ? everyWorkerServing(`http://127.0.0.1:${port}`, SECRET, os.availableParallelism()) : undefined;
  const child = await startProcess(entry, args, env, {
    readyWhen: async () => {
      const answer = await firstAnswer(url, probe);
      await everyWorker();
      return answer;
    },
    nodeOptions,
  });
  return Object.assign(child, { url });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Rounds alternate the order of the targets, so that neither always runs on a warmer or quieter machine. */
async function compare(
  targets: { name: string; url: string; expectBody?: string; headers?: Record<string, string>; cpuMs?: () => Promise<number> }[],
  body: string,
  expectBody: string,
): Promise<Record<string, LoadResult>> {
  const rounds: Record<string, LoadResult[]> = Object.fromEntries(targets.map(({ name }) => [name, []]));
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) {
      const load = {
        url: target.url,
        body,
        expectBody: target.expectBody ?? expectBody,
        connections: options.connections,
        headers: target.headers,
      };
      if (options.warmup > 0) await runLoad({ ...load, seconds: options.warmup });
      const cpuBefore = await target.cpuMs?.();
      const result = await runLoad({ ...load, seconds: options.seconds });
      if (cpuBefore !== undefined && result.requests > 0) result.cpuMsPerRequest = ((await target.cpuMs!()) - cpuBefore) / result.requests;
      console.log(
        `  ${target.name.padEnd(6)} round ${round + 1}: ${result.throughput.toFixed(0)} req/s, p95 ${result.p95.toFixed(1)} ms, ${result.cpuMsPerRequest === undefined ? '' : `${result.cpuMsPerRequest.toFixed(2)} ms CPU per request, `}${result.failures} failures`,
      );
      rounds[target.name]!.push(result);
    }
  }
  return Object.fromEntries(
    Object.entries(rounds).map(([name, results]) => [
      name,
      {
        requests: results.reduce((sum, result) => sum + result.requests, 0),
        throughput: median(results.map((result) => result.throughput)),
        p50: median(results.map((result) => result.p50)),
        p95: median(results.map((result) => result.p95)),
        p99: median(results.map((result) => result.p99)),
        failures: results.reduce((sum, result) => sum + result.failures, 0),
        ...(results.every((result) => result.cpuMsPerRequest !== undefined)
          ? { cpuMsPerRequest: median(results.map((result) => result.cpuMsPerRequest!)) }
          : {}),
      },
    ]),
  );
}

/** Both gateways must give the very same bytes before their speed means anything. */
async function sameAnswer(gateways: Record<GatewayName, { url: string }>, body: string): Promise<string> {
  const [ours, stock] = await Promise.all([firstAnswer(gateways.ours.url, body), firstAnswer(gateways.stock.url, body)]);
  if (ours !== stock) throw new Error(`the gateways answered differently:\nours:  ${ours.slice(0, 300)}\nstock: ${stock.slice(0, 300)}`);
  if (ours.includes('"errors"')) throw new Error(`the query failed: ${ours.slice(0, 300)}`);
  return ours;
}

interface Report {
  machine: ReturnType<typeof machineFacts>;
  settings: typeof options extends infer T ? Omit<T, 'only'> & { only: string[] } : never;
  deep?: {
    responseBytes: number;
    results: Record<DeepVariant, LoadResult>;
    peakRssBytes: Record<DeepVariant, number>;
    throughputRatio: number;
    p95Ratio: number;
    p99Ratio: number;
    /** Ours' peak RSS over stock's, each as deployed. */
    peakRssRatio: number;
    /** Stock's CPU time per request over ours', each as deployed: how many times less CPU ours spends on a request. */
    cpuPerRequestRatio: number;
    sameHeapThroughputRatio: number;
    defaultHeapThroughputRatio: number;
    deduplicatedThroughputRatio: number;
    deduplicatedP95Ratio: number;
  };
  direct?: { results: Record<string, LoadResult>; oursShareOfDirect: number; stockShareOfDirect: number };
  directAuth?: { results: Record<string, LoadResult>; oursShareOfDirect: number };
  statements?: StatementsResult;
  startup?: { firstQueryMs: Record<GatewayName, number>; compositionMs: { fixture: number; nexusflow: number } };
}

/** `me` on the real auth subgraph: what the gateway adds in front of a subgraph that reads its database. */
async function measureDirectAuth(): Promise<NonNullable<Report['directAuth']>> {
  const port = await freePort();
  const authUrl = `http://127.0.0.1:${port}/graphql`;
  await start(
    startProcess(
      'subgraphs/nexusflow/auth/src/main.ts',
      [],
      {
        PATH: process.env.PATH,
        LOG_LEVEL: 'warn',
        PORT: String(port),
        DATA_DIR: join(scratch, 'auth-data'),
        JWT_SECRET: SECRET,
        INTERNAL_SECRET: SECRET,
      },
      {
        readyWhen: () => ready(`http://127.0.0.1:${port}`),
      },
    ),
  );
  const supergraphFile = join(scratch, 'auth.graphql');
  const [auth] = (await readSupergraphConfig(supergraphConfigFile('nexusflow'))).filter((subgraph) => subgraph.name === 'auth');
  await writeFile(supergraphFile, composeSupergraph([{ ...auth!, url: authUrl }]));
  const body = JSON.stringify({ query: '{ me { id email name roles tenant { id name } } }' });
  const ours = await start(startGateway('ours', supergraphFile, JSON.stringify({ query: '{ __typename }' })));
  const registered = (
    await postGraphQL(ours.url, RegisterDocument, {
      variables: {
        input: {
          email: `bench-${randomBytes(4).toString('hex')}@example.com`,
          password: 'benchmark password',
          name: 'Bench',
          tenantName: 'Bench',
        },
      },
    })
  ).data?.register;
  if (registered?.__typename !== 'AuthSession') throw new Error('registration failed');
  const me = (
    await postGraphQL<{ me: { id: string; roles: Role[]; tenant: { id: string } } }>(ours.url, '{ me { id roles tenant { id } } }', {
      token: registered.accessToken,
    })
  ).data!.me;
  const identity = { kind: 'user' as const, userId: me.id, tenantId: me.tenant.id, roles: me.roles };
  // Signed now, valid for the whole run: the subgraph accepts a signature for several minutes.
  const directHeaders = signIdentity(identity, SECRET);
  const bearer = { authorization: `Bearer ${registered.accessToken}` };
  const answer = async (url: string, headers: Record<string, string>) =>
    (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })).text();
  const [direct, oursAnswer] = await Promise.all([answer(authUrl, directHeaders), answer(ours.url, bearer)]);
  if (JSON.stringify(JSON.parse(direct)) !== JSON.stringify(JSON.parse(oursAnswer)) || oursAnswer.includes('"errors"')) {
    throw new Error(`the targets answered differently:\ndirect ${direct}\nours   ${oursAnswer}`);
  }
  // Stock is left out here: it forwards no identity, and the subgraph refuses requests that do not come through a gateway that signs one.
  const results = await compare(
    [
      { name: 'direct', url: authUrl, expectBody: direct, headers: directHeaders },
      { name: 'ours', url: ours.url, headers: bearer },
    ],
    body,
    oursAnswer,
  );
  return { results, oursShareOfDirect: results.ours!.throughput / results.direct!.throughput };
}

const report: Report = {
  machine: machineFacts(),
  settings: { ...options, only: [...options.only] },
};

const scratch = await mkdtemp(join(os.tmpdir(), 'nexusflow-bench-'));
const running: BenchProcess[] = [];
const start = async <T extends BenchProcess>(process: Promise<T>): Promise<T> => {
  const started = await process;
  running.push(started);
  return started;
};
const deepBody = JSON.stringify({ query: DEEP_QUERY });

try {
  if (options.only.has('deep') || options.only.has('startup')) {
    console.log('deep federated query: starting the memoizing subgraphs and both gateways');
    const fixture = await start(startProcess('bench/gateway/fixture/main.ts', ['--memoize'], { PATH: process.env.PATH }));
    const supergraphFile = join(scratch, 'deep.graphql');
    await writeFile(supergraphFile, composeFixture(fixture.ready as Record<FixtureSubgraphName, string>));
    const gateways = {
      ours: await start(startGateway('ours', supergraphFile, deepBody)),
      stock: await start(startGateway('stock', supergraphFile, deepBody)),
    };
    if (options.only.has('startup')) {
      const compositionRuns = (compose: () => unknown) =>
        median(
          Array.from({ length: 5 }, () => {
            const started = performance.now();
            compose();
            return performance.now() - started;
          }),
        );
      const nexusflow = await readSupergraphConfig(supergraphConfigFile('nexusflow'));
      report.startup = {
        firstQueryMs: { ours: gateways.ours.startMs, stock: gateways.stock.startMs },
        compositionMs: {
          fixture: compositionRuns(() => composeFixture(fixture.ready as Record<FixtureSubgraphName, string>)),
          nexusflow: compositionRuns(() => composeSupergraph(nexusflow)),
        },
      };
    }
    if (options.only.has('deep')) {
      const expected = await sameAnswer(gateways, deepBody);
      const variants: (BenchProcess & { url: string; name: DeepVariant })[] = [];
      for (const variant of deepVariants) {
        const gateway =
          variant.name === 'ours'
            ? gateways.ours
            : variant.name === 'stock'
              ? gateways.stock
              : await start(startGateway(variant.gateway, supergraphFile, deepBody, variant));
        variants.push(Object.assign(gateway, { name: variant.name }));
      }
      const results = (await compare(variants, deepBody, expected)) as Record<DeepVariant, LoadResult>;
      const peakRssBytes = {} as Record<DeepVariant, number>;
      for (const variant of variants) peakRssBytes[variant.name] = await variant.peakRss();
      // A ratio whose variants were not run (see --variants) is null in the JSON report.
      const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : Number.NaN);
      const partial = results as Partial<Record<DeepVariant, LoadResult>>;
      report.deep = {
        responseBytes: Buffer.byteLength(expected),
        results,
        peakRssBytes,
        throughputRatio: ratio(partial.ours?.throughput, partial.stock?.throughput),
        p95Ratio: ratio(partial.ours?.p95, partial.stock?.p95),
        p99Ratio: ratio(partial.ours?.p99, partial.stock?.p99),
        peakRssRatio: ratio(peakRssBytes.ours, peakRssBytes.stock),
        cpuPerRequestRatio: ratio(partial.stock?.cpuMsPerRequest, partial.ours?.cpuMsPerRequest),
        sameHeapThroughputRatio: ratio(partial.ours?.throughput, partial['stock, heap budget']?.throughput),
        defaultHeapThroughputRatio: ratio(partial['ours, V8 default heap']?.throughput, partial.stock?.throughput),
        deduplicatedThroughputRatio: ratio(partial['ours+dedup']?.throughput, partial.stock?.throughput),
        deduplicatedP95Ratio: ratio(partial['ours+dedup']?.p95, partial.stock?.p95),
      };
    }
    for (const child of running.splice(0)) await child.stop();
  }

  if (options.only.has('direct')) {
    console.log('one subgraph: straight to it, and through each gateway');
    const fixture = await start(startProcess('bench/gateway/fixture/main.ts', [], { PATH: process.env.PATH }));
    const urls = fixture.ready as Record<FixtureSubgraphName, string>;
    const supergraphFile = join(scratch, 'direct.graphql');
    await writeFile(supergraphFile, composeFixture(urls));
    const body = JSON.stringify({ query: SINGLE_SUBGRAPH_QUERY });
    const gateways = {
      ours: await start(startGateway('ours', supergraphFile, body)),
      stock: await start(startGateway('stock', supergraphFile, body)),
    };
    const expected = await sameAnswer(gateways, body);
    // Apollo Server ends its responses with a newline, the subgraph does not; the data must be the same.
    const direct = await firstAnswer(urls.products, body);
    if (JSON.stringify(JSON.parse(direct)) !== JSON.stringify(JSON.parse(expected)))
      throw new Error(`the subgraph answered differently: ${direct}`);
    const results = await compare(
      [
        { name: 'direct', url: urls.products, expectBody: direct },
        { name: 'ours', ...gateways.ours },
        { name: 'stock', ...gateways.stock },
      ],
      body,
      expected,
    );
    report.direct = {
      results,
      oursShareOfDirect: results.ours!.throughput / results.direct!.throughput,
      stockShareOfDirect: results.stock!.throughput / results.direct!.throughput,
    };
    for (const child of running.splice(0)) await child.stop();

    console.log('a NexusFlow subgraph (auth, embedded PostgreSQL): straight to it, and through each gateway');
    report.directAuth = await measureDirectAuth();
    for (const child of running.splice(0)) await child.stop();
  }

  if (options.only.has('statements')) {
    console.log('SQL statements per request, through the gateway on the NexusFlow subgraphs');
    report.statements = await measureStatements([1, 10, 100, 1000]);
  }
} finally {
  for (const child of running.splice(0)) await child.stop();
  await rm(scratch, { recursive: true, force: true });
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const rps = (value: number) => `${Math.round(value).toLocaleString('en-US')}`;
/** One row per target: throughput, latency percentiles and failures. */
const latencyTable = (results: Record<string, LoadResult>) =>
  formatTable(
    ['target', 'req/s', 'p50', 'p95', 'p99', 'failures'],
    Object.entries(results).map(([name, result]) => [
      name,
      rps(result.throughput),
      ms(result.p50),
      ms(result.p95),
      ms(result.p99),
      String(result.failures),
    ]),
  );
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

console.log(
  `\n${report.machine.cpuModel} (${report.machine.cores} cores), ${report.machine.memoryGB} GB, Node ${report.machine.node}, ${report.machine.platform}`,
);
console.log(
  `${options.connections} connections, ${options.rounds} rounds of ${options.seconds} s after ${options.warmup} s of warm-up; medians of the rounds\n`,
);
if (report.deep) {
  const { results, peakRssBytes } = report.deep;
  console.log(`Deep federated query (${(report.deep.responseBytes / 1024).toFixed(1)} KB per response)`);
  console.log(
    formatTable(
      ['gateway', 'req/s', 'p50', 'p95', 'p99', 'peak RSS', 'CPU/request', 'failures'],
      deepVariants.map(({ name }) => [
        name,
        rps(results[name].throughput),
        ms(results[name].p50),
        ms(results[name].p95),
        ms(results[name].p99),
        mb(peakRssBytes[name]),
        ((cpu) => (cpu === undefined ? '' : ms(cpu)))(results[name].cpuMsPerRequest),
        String(results[name].failures),
      ]),
    ),
  );
  console.log(
    `ours / stock, each as deployed: ${report.deep.throughputRatio.toFixed(2)}× the throughput, ${report.deep.p95Ratio.toFixed(2)}× the p95, ${report.deep.p99Ratio.toFixed(2)}× the p99, ${report.deep.peakRssRatio.toFixed(2)}× the peak RSS; stock spends ${report.deep.cpuPerRequestRatio.toFixed(2)}× ours' CPU per request`,
  );
  console.log(
    `ours / stock with the same heap budget: ${report.deep.sameHeapThroughputRatio.toFixed(2)}× the throughput; both at V8 defaults: ${report.deep.defaultHeapThroughputRatio.toFixed(2)}×`,
  );
  console.log(
    `ours with request deduplication / stock: ${report.deep.deduplicatedThroughputRatio.toFixed(2)}× the throughput, ${report.deep.deduplicatedP95Ratio.toFixed(2)}× the p95\n`,
  );
}
if (report.direct) {
  const { results } = report.direct;
  console.log('One subgraph, straight and through a gateway');
  console.log(latencyTable(results));
  console.log(
    `ours: ${(report.direct.oursShareOfDirect * 100).toFixed(0)}% of the subgraph's own throughput; stock: ${(report.direct.stockShareOfDirect * 100).toFixed(0)}%\n`,
  );
}
if (report.directAuth) {
  const { results } = report.directAuth;
  console.log('The auth subgraph (embedded PostgreSQL), straight and through our gateway: { me { … tenant { … } } }');
  console.log(latencyTable(results));
  console.log(`ours: ${(report.directAuth.oursShareOfDirect * 100).toFixed(0)}% of the subgraph's own throughput\n`);
}
if (report.statements) {
  console.log(`SQL statements per request: ${report.statements.query.replace(/\s+/g, ' ').trim()}`);
  console.log(
    formatTable(
      ['entities', 'statements', 'by subgraph'],
      report.statements.rows.map((row) => [String(row.entities), String(row.statements), JSON.stringify(row.bySubgraph)]),
    ),
  );
  console.log('');
}
if (report.startup) {
  console.log(`Start-up to first deep query: ours ${ms(report.startup.firstQueryMs.ours)}, stock ${ms(report.startup.firstQueryMs.stock)}`);
  console.log(
    `Composition: benchmark supergraph ${ms(report.startup.compositionMs.fixture)}, NexusFlow supergraph ${ms(report.startup.compositionMs.nexusflow)}\n`,
  );
}
if (flags.json) await writeFile(flags.json, `${JSON.stringify(report, null, 2)}\n`);
