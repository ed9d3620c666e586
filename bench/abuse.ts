/**
 * The gateway under a sustained flood of abusive documents, next to normal traffic: what a refusal costs, whether
 * normal clients notice, and whether the gateway's memory stays put.
 *
 *   npm run bench:abuse -- [--seconds 60] [--baseline 10] [--attackers 16] [--clients 8] [--rate 200] [--no-shedding] [--json out.json]
 *
 * The gateway runs as deployed (its own process, the heap budget of scripts/topology.ts, NODE_ENV=production) in
 * front of the federation benchmark's four subgraphs, with rate limits off: every abusive document reaches the
 * document limits, demand control and the planner instead of being turned away by the limiter, the worst case for
 * the gateway. Each abusive request carries a random comment, so that no cache of the gateway ever recognises it.
 *
 * Normal traffic is a query one subgraph serves, `--rate` requests a second over `--clients` connections.
 * Phases: normal traffic alone (baseline), then normal traffic with `--attackers` connections sending abusive
 * documents back to back over HTTP and WebSocket for `--seconds`. Throughout, `{ __typename }` is asked every 50 ms,
 * the gateway's event-loop delay is read from its metrics every second, and its resident memory sampled.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { GATEWAY } from '../scripts/topology.ts';
import { FIXTURE_SUBGRAPHS, FIXTURE_SUBGRAPH_NAMES, SINGLE_SUBGRAPH_QUERY, type FixtureSubgraphName } from './gateway/fixture/subgraphs.ts';
import { runLoad, type LoadResult } from './gateway/load.ts';
import { ATTACKS, type AttackStats } from './abuse/attacks.ts';
import { firstAnswer, startProcess, type BenchProcess } from './gateway/processes.ts';
import { repositoryRoot } from '../scripts/topology.ts';
import { formatTable, machineFacts, percentile, positiveInteger, progress, startWatchdog } from './support.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    baseline: { type: 'string', default: '10' },
    attackers: { type: 'string', default: '16' },
    clients: { type: 'string', default: '8' },
    rate: { type: 'string', default: '200' },
    'no-shedding': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const options = {
  seconds: positiveInteger('seconds', flags.seconds),
  baseline: positiveInteger('baseline', flags.baseline),
  attackers: positiveInteger('attackers', flags.attackers),
  clients: positiveInteger('clients', flags.clients),
  rate: positiveInteger('rate', flags.rate),
};
startWatchdog((options.seconds + options.baseline + 120) * 1000);

const SECRET = randomBytes(32).toString('hex');
const METRICS_TOKEN = randomBytes(16).toString('hex');

/** The gateway's own view of itself, from its metrics: the worst event-loop delay since the last reading, and its heap in use. */
async function gatewayReadings(adminUrl: string): Promise<{ lagMs: number; heapBytes: number }> {
  const response = await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await response.text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { lagMs: value('nodejs_eventloop_lag_max_seconds') * 1000, heapBytes: value('nodejs_heap_size_used_bytes') };
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** Asks `{ __typename }` every 50 ms until stopped; each answer's latency, and how many did not answer correctly. */
function probe(url: string) {
  const latencies: number[] = [];
  let failures = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const started = performance.now();
      const next = new Promise((resolve) => setTimeout(resolve, 50));
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"query":"{ __typename }"}',
        });
        const body = await response.text();
        if (!body.includes('"__typename":"Query"')) failures++;
      } catch {
        failures++;
      }
      latencies.push(performance.now() - started);
      await next;
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { latencies: latencies.sort((a, b) => a - b), failures };
    },
  };
}

/** Event-loop delay and memory of the gateway, every second. */
function monitor(adminUrl: string, pid: number) {
  const lagMs: number[] = [];
  const heapBytes: number[] = [];
  const rssBytes: number[] = [];
  const timer = setInterval(() => {
    void gatewayReadings(adminUrl).then(
      (readings) => {
        lagMs.push(readings.lagMs);
        heapBytes.push(readings.heapBytes);
      },
      () => undefined,
    );
    void rss(pid).then(
      (bytes) => rssBytes.push(bytes),
      () => undefined,
    );
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      return { lagMs, heapBytes, rssBytes };
    },
  };
}

/** Starts the attackers in a process of their own and waits until they are ready; `go()` floods for `--seconds`. */
async function prepareAttackers(
  url: string,
): Promise<{ go(): Promise<{ stats: Record<string, AttackStats>; websocketMessages: number }> }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/abuse/attacker.ts',
      '--url',
      url,
      '--seconds',
      String(options.seconds),
      '--attackers',
      String(options.attackers),
    ],
    { cwd: repositoryRoot, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let output = '';
  const waiting: { prefix: string; resolve: (line: string) => void }[] = [];
  const look = () => {
    // Only whole lines: the statistics arrive in several chunks.
    const complete = output.split('\n').slice(0, -1);
    for (const waiter of [...waiting]) {
      const line = complete.find((candidate) => candidate.startsWith(waiter.prefix));
      if (!line) continue;
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    look();
  });
  // 'close' comes after the last of the output, so a line printed just before exiting is seen first.
  const exited = new Promise<never>((_, reject) =>
    child.once('close', (code) => {
      look();
      reject(new Error(`the attackers exited (${code}):\n${output.slice(0, 2000)}`));
    }),
  );
  exited.catch(() => undefined);
  const lines = (prefix: string) => Promise.race([new Promise<string>((resolve) => waiting.push({ prefix, resolve })), exited]);
  await lines('{"ready"');
  return {
    async go() {
      child.stdin.write('go\n');
      return JSON.parse(await lines('{"stats"')) as { stats: Record<string, AttackStats>; websocketMessages: number };
    },
  };
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

const scratch = await mkdtemp(join(os.tmpdir(), 'nexusflow-abuse-'));
const running: BenchProcess[] = [];
try {
  progress('abuse: starting the benchmark subgraphs and the gateway');
  const fixture = await startProcess('bench/gateway/fixture/main.ts', ['--memoize'], { PATH: process.env.PATH });
  running.push(fixture);
  const urls = fixture.ready as Record<FixtureSubgraphName, string>;
  const supergraphFile = join(scratch, 'supergraph.graphql');
  await writeFile(
    supergraphFile,
    composeSupergraph(FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs }))),
  );
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const adminPort = port + 1;
  const url = `http://127.0.0.1:${port}/graphql`;
  const normalBody = JSON.stringify({ query: SINGLE_SUBGRAPH_QUERY });
  const gateway = await startProcess(
    'gateway/src/main.ts',
    [],
    {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'error',
      JWT_SECRET: SECRET,
      INTERNAL_SECRET: SECRET,
      SUPERGRAPH_PATH: supergraphFile,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      METRICS_TOKEN,
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_PER_TENANT_PER_MINUTE: '0',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
      MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS: '1000',
      ...(flags['no-shedding'] ? { LOAD_SHEDDING_DELAY_MS: '0' } : {}),
    },
    {
      readyWhen: () => firstAnswer(url, normalBody),
      nodeOptions: [
        ...GATEWAY.nodeOptions,
        ...(process.env.ABUSE_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ABUSE_PROFILE}`] : []),
      ],
    },
  );
  running.push(gateway);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const expectBody = await firstAnswer(url, normalBody);

  const attackers = await prepareAttackers(url);
  // The first reading covers start-up; from here on each reading covers the second before it.
  await gatewayReadings(adminUrl);
  progress(`abuse: ${options.baseline} s of normal traffic alone`);
  const baselineProbe = probe(url);
  const baselineMonitor = monitor(adminUrl, gateway.child.pid!);
  const baseline: LoadResult = await runLoad({
    url,
    body: normalBody,
    expectBody,
    connections: options.clients,
    seconds: options.baseline,
    rate: options.rate,
  });
  const baselineProbed = await baselineProbe.stop();
  const baselineMonitored = baselineMonitor.stop();

  progress(`abuse: ${options.seconds} s of normal traffic beside ${options.attackers} HTTP attackers and one WebSocket attacker`);
  const rssBefore = await rss(gateway.child.pid!);
  const floodProbe = probe(url);
  const floodMonitor = monitor(adminUrl, gateway.child.pid!);
  const [underFlood, attacked] = await Promise.all([
    runLoad({ url, body: normalBody, expectBody, connections: options.clients, seconds: options.seconds, rate: options.rate }),
    attackers.go(),
  ]);
  const floodProbed = await floodProbe.stop();
  const floodMonitored = floodMonitor.stop();
  const rssAfter = await rss(gateway.child.pid!);
  const peakRss = await gateway.peakRss();

  const attackRows = ATTACKS.map((attack) => {
    const stat = attacked.stats[attack.name]!;
    const sorted = stat.latencies.sort((a, b) => a - b);
    return [
      attack.name,
      attack.expect,
      String(sorted.length),
      String(stat.shed),
      ms(percentile(sorted, 50)),
      ms(percentile(sorted, 99)),
      ms(sorted.at(-1) ?? Number.NaN),
      String(stat.wrongAnswers),
    ];
  });
  console.log(`\n${machineFacts().cpuModel}, ${os.cpus().length} cores, Node ${process.version}\n`);
  console.log(
    formatTable(
      ['attack (each request new to the gateway)', 'refused with', 'requests', 'shed (503)', 'p50', 'p99', 'max', 'wrong answers'],
      attackRows,
    ),
  );
  console.log(`WebSocket: ${attacked.websocketMessages} abusive operations answered on the socket, each with its errors\n`);
  const phase = (
    name: string,
    load: LoadResult,
    probed: { latencies: number[]; failures: number },
    monitored: { lagMs: number[]; heapBytes: number[]; rssBytes: number[] },
  ) => [
    name,
    load.throughput.toFixed(0),
    ms(load.p50),
    ms(load.p99),
    String(load.failures),
    ms(percentile(probed.latencies, 50)),
    ms(percentile(probed.latencies, 99)),
    ms(probed.latencies.at(-1) ?? Number.NaN),
    ms(Math.max(...monitored.lagMs.filter(Number.isFinite))),
    mb(Math.max(...monitored.heapBytes.filter(Number.isFinite))),
    mb(Math.max(...monitored.rssBytes)),
  ];
  console.log(
    formatTable(
      [
        'phase',
        'normal req/s',
        'normal p50',
        'normal p99',
        'normal failures',
        '{__typename} p50',
        '{__typename} p99',
        '{__typename} max',
        'event-loop delay max',
        'heap used max',
        'gateway RSS max',
      ],
      [
        phase('normal traffic alone', baseline, baselineProbed, baselineMonitored),
        phase('under the flood', underFlood, floodProbed, floodMonitored),
      ],
    ),
  );
  console.log(`\ngateway RSS ${mb(rssBefore)} before the flood, ${mb(rssAfter)} after ${options.seconds} s of it; peak ${mb(peakRss)}`);
  const tenths = (values: number[]) =>
    values
      .filter((_, index) => index % Math.max(1, Math.floor(values.length / 10)) === 0)
      .map(mb)
      .join(', ');
  console.log(
    `heap used during the flood, every ${Math.max(1, Math.floor(floodMonitored.heapBytes.length / 10))} s: ${tenths(floodMonitored.heapBytes)}`,
  );
  if (flags.json) {
    await writeFile(
      flags.json,
      JSON.stringify(
        {
          machine: machineFacts(),
          settings: options,
          baseline: { load: baseline, typename: baselineProbed, ...baselineMonitored },
          flood: {
            load: underFlood,
            typename: floodProbed,
            ...floodMonitored,
            attacks: attacked.stats,
            websocketMessages: attacked.websocketMessages,
          },
          rss: { before: rssBefore, after: rssAfter, peak: peakRss },
        },
        null,
        2,
      ),
    );
  }
} finally {
  for (const process of running.reverse()) await process.stop();
  await rm(scratch, { recursive: true, force: true });
}
