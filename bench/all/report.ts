/**
 * The one report of `npm run bench`: every benchmark's JSON, read defensively (each benchmark's owner may add or
 * rename fields; what is missing shows as n/a), side by side with the goals of issue 19 and the peers' figures.
 */
import { GOALS, PUBLISHED } from './goals.ts';

export type Area = 'gateway' | 'subscriptions' | 'workflows';

/** One benchmark run as a child process. */
export interface ChildRun {
  area: Area;
  label: string;
  command: string;
  seconds: number;
  /** null when it was killed (by its time budget or a signal). */
  exitCode: number | null;
  timedOut: boolean;
  /** The last lines it printed, for the report of a failure. */
  outputTail: string;
  /** What it wrote to `--json`, if it did. */
  json: unknown;
}

export interface MachineFacts {
  cpuModel?: string;
  cores?: number;
  availableParallelism?: number;
  memoryGB?: number;
  node?: string;
  platform?: string;
}

export interface AllReport {
  startedAt: string;
  seconds: number;
  quick: boolean;
  machine: MachineFacts;
  /** 1-minute load average when the run started and when it ended: other work on the machine shows here. */
  loadAverage: { start: number; end: number };
  runs: ChildRun[];
}

export function failed(run: ChildRun): boolean {
  return run.exitCode !== 0 || run.timedOut || run.json === undefined;
}

const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>(
    (current, key) => (current !== null && typeof current === 'object' ? (current as Record<string | number, unknown>)[key] : undefined),
    value,
  );
const num = (value: unknown, ...path: (string | number)[]): number | undefined => {
  const found = at(value, ...path);
  return typeof found === 'number' && Number.isFinite(found) ? found : undefined;
};
const str = (value: unknown, ...path: (string | number)[]): string | undefined => {
  const found = at(value, ...path);
  return typeof found === 'string' ? found : undefined;
};
const list = (value: unknown, ...path: (string | number)[]): unknown[] => {
  const found = at(value, ...path);
  return Array.isArray(found) ? found : [];
};
const entries = (value: unknown, ...path: (string | number)[]): [string, unknown][] => {
  const found = at(value, ...path);
  return found !== null && typeof found === 'object' && !Array.isArray(found) ? Object.entries(found) : [];
};

const NA = 'n/a';
const fixed = (value: number | undefined, digits = 0, unit = '') =>
  value === undefined ? NA : `${value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}${unit}`;
const times = (value: number | undefined) => (value === undefined ? NA : `${value.toFixed(2)}×`);
const megabytes = (bytes: number | undefined) => (bytes === undefined ? NA : `${Math.round(bytes / 2 ** 20)} MB`);
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
/** A goal's verdict: n/a when the figure was not measured (a failed benchmark, or a case not run at the goal's size). */
const verdict = (met: boolean | undefined) => (met === undefined ? NA : met ? '**met**' : '**not met**');

function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

function runOf(report: AllReport, area: Area): ChildRun[] {
  return report.runs.filter((run) => run.area === area);
}

function failureNote(run: ChildRun): string {
  const why = run.timedOut
    ? `stopped after its time budget (${Math.round(run.seconds)} s)`
    : run.exitCode !== 0
      ? `exited with status ${run.exitCode ?? 'none (killed)'}`
      : 'wrote no JSON report';
  return `**${run.label} failed**: ${why}. Last lines:\n\n\`\`\`\n${run.outputTail.trim()}\n\`\`\``;
}

function gatewaySection(report: AllReport): string[] {
  const runs = runOf(report, 'gateway');
  if (runs.length === 0) return [];
  // The gateway benchmark runs once per group of scenarios (so that one failing loses only its own figures); each
  // report holds the scenarios it ran, under their own keys.
  const json: unknown = Object.assign({}, ...runs.map((run) => (run.json !== null && typeof run.json === 'object' ? run.json : {})));
  const out = ['## Gateway', ''];
  for (const run of runs.filter(failed)) out.push(failureNote(run), '');
  const results = entries(json, 'deep', 'results');
  const stock = num(json, 'deep', 'results', 'stock', 'throughput');
  const stockP95 = num(json, 'deep', 'results', 'stock', 'p95');
  const rssOf = (name: string) => num(json, 'deep', 'peakRssBytes', name);
  if (results.length > 0) {
    const kb = num(json, 'deep', 'responseBytes');
    out.push(
      `**Deep federated query** (${kb === undefined ? NA : `${(kb / 1024).toFixed(1)} KB`} per response; ${fixed(num(json, 'settings', 'connections'))} connections, ` +
        `medians of ${fixed(num(json, 'settings', 'rounds'))} rounds of ${fixed(num(json, 'settings', 'seconds'))} s):`,
      '',
      table(
        ['gateway', 'req/s', 'p50', 'p95', 'p99', 'peak RSS', 'CPU per request', '× stock’s throughput'],
        results.map(([name, result]) => [
          name,
          fixed(num(result, 'throughput')),
          fixed(num(result, 'p50'), 1, ' ms'),
          fixed(num(result, 'p95'), 1, ' ms'),
          fixed(num(result, 'p99'), 1, ' ms'),
          megabytes(rssOf(name)),
          fixed(num(result, 'cpuMsPerRequest'), 2, ' ms'),
          times(ratio(num(result, 'throughput'), stock)),
        ]),
      ),
      '',
    );
  }
  const oursRatio = ratio(num(json, 'deep', 'results', 'ours', 'throughput'), stock);
  const p95Ratio = ratio(num(json, 'deep', 'results', 'ours', 'p95'), stockP95);
  const rssRatio = ratio(rssOf('ours'), rssOf('stock'));
  const multi = results.find(([name]) => name.includes('worker'));
  const workers = num(report.machine, 'availableParallelism');
  out.push(
    'Goals (ours and stock each as deployed, one process each, no request deduplication, no caching):',
    '',
    table(
      ['goal', 'this run', 'verdict'],
      [
        [
          GOALS.deepThroughput.text,
          times(oursRatio),
          verdict(oursRatio === undefined ? undefined : oursRatio >= GOALS.deepThroughput.atLeast),
        ],
        [
          GOALS.deepThroughputAim.text,
          times(oursRatio),
          verdict(oursRatio === undefined ? undefined : oursRatio >= GOALS.deepThroughputAim.atLeast),
        ],
        [GOALS.deepP95.text, times(p95Ratio), verdict(p95Ratio === undefined ? undefined : p95Ratio <= GOALS.deepP95.atMost)],
        [GOALS.deepMemory.text, times(rssRatio), verdict(rssRatio === undefined ? undefined : rssRatio <= GOALS.deepMemory.atMost)],
      ],
    ),
    '',
    'Side by side with the peers (throughput on the deep query, as a multiple of stock @apollo/gateway’s):',
    '',
    table(
      ['gateway', '× stock', 'source'],
      [
        ['stock @apollo/gateway + @apollo/server', stock === undefined || stock === 0 ? NA : '1.00×', 'measured in this run'],
        ['ours, one process', times(oursRatio), 'measured in this run'],
        [
          `ours, one worker per core (${workers ?? NA} processes)`,
          times(ratio(num(multi?.[1], 'throughput'), stock)),
          'measured in this run; stock runs one process, so this is not like for like',
        ],
        [PUBLISHED.hiveGateway.name, PUBLISHED.hiveGateway.figure, PUBLISHED.source],
        [PUBLISHED.cosmo.name, PUBLISHED.cosmo.figure, PUBLISHED.source],
      ],
    ),
    '',
  );
  if (multi && workers !== undefined && workers <= 2) {
    out.push(
      `On a machine with ${workers} cores shared with the load generator and the subgraphs, one worker per core competes with ` +
        'them for the same cores: the multi-process row shows what the mode costs or gains here, not what it gives on a ' +
        'machine with cores to spare.',
      '',
    );
  }
  const direct = entries(json, 'direct', 'results');
  if (direct.length > 0) {
    const straight = num(json, 'direct', 'results', 'direct', 'throughput');
    out.push(
      '**One subgraph, straight and through each gateway:**',
      '',
      table(
        ['target', 'req/s', 'p95', 'share of the subgraph’s own throughput'],
        direct.map(([name, result]) => [
          name,
          fixed(num(result, 'throughput')),
          fixed(num(result, 'p95'), 1, ' ms'),
          name === 'direct' ? '100%' : fixed((ratio(num(result, 'throughput'), straight) ?? Number.NaN) * 100, 0, '%').replace('NaN%', NA),
        ]),
      ),
      '',
    );
  }
  const auth = num(json, 'directAuth', 'oursShareOfDirect');
  if (auth !== undefined)
    out.push(`The auth subgraph (embedded PostgreSQL) through ours: ${Math.round(auth * 100)}% of its own throughput.`, '');
  const statements = list(json, 'statements', 'rows');
  if (statements.length > 0) {
    out.push(
      '**SQL statements per request** (a federated list; the count must not grow with it):',
      '',
      table(
        ['entities', ...statements.map((row) => fixed(num(row, 'entities')))],
        [['statements', ...statements.map((row) => fixed(num(row, 'statements')))]],
      ),
      '',
    );
  }
  const oursStart = num(json, 'startup', 'firstQueryMs', 'ours');
  if (oursStart !== undefined || num(json, 'startup', 'firstQueryMs', 'stock') !== undefined) {
    out.push(
      `**Start-up** to the first answered deep query: ours ${fixed(oursStart, 0, ' ms')}, stock ${fixed(num(json, 'startup', 'firstQueryMs', 'stock'), 0, ' ms')}; ` +
        `composition ${fixed(num(json, 'startup', 'compositionMs', 'fixture'), 0, ' ms')} (benchmark supergraph), ` +
        `${fixed(num(json, 'startup', 'compositionMs', 'nexusflow'), 0, ' ms')} (NexusFlow).`,
      '',
    );
  }
  return out;
}

function subscriptionsSection(report: AllReport): string[] {
  const [run] = runOf(report, 'subscriptions');
  if (!run) return [];
  const json = run.json;
  const out = ['## Subscriptions', ''];
  if (failed(run)) out.push(failureNote(run), '');
  const results = list(json, 'results');
  const caseOf = (result: unknown) => str(result, 'case') ?? 'one identity';
  if (results.length > 0) {
    out.push(
      `Latency from each event’s \`occurredAt\` to its arrival at subscribers ${
        str(json, 'options', 'client') === 'graphql-ws'
          ? 'using graphql-ws’s client'
          : 'speaking graphql-transport-ws through the lean client (`bench/subscriptions/lean-client.ts`)'
      }; memory of ${
        str(json, 'options', 'gatewayPlacement') === 'inline'
          ? 'the process of the gateway and the subgraphs'
          : 'the gateway processes (each in a process of its own, as deployed)'
      } per subscriber:`,
      '',
      table(
        ['case', 'users', 'gateways', 'subscribers', 'delivered', 'p50', 'p99', 'RSS per subscriber', 'heap per subscriber'],
        results.map((result) => [
          caseOf(result),
          fixed(num(result, 'users')),
          fixed(num(result, 'gateways') ?? 1),
          fixed(num(result, 'subscribers')),
          `${fixed(num(result, 'delivered'))} / ${fixed(num(result, 'expected'))}`,
          fixed(num(result, 'latencyMs', 'p50'), 0, ' ms'),
          fixed(num(result, 'latencyMs', 'p99'), 0, ' ms'),
          fixed(num(result, 'server', 'rssKBPerSubscriber'), 1, ' KB'),
          fixed(num(result, 'server', 'heapKBPerSubscriber'), 1, ' KB'),
        ]),
      ),
      '',
    );
  }
  for (const note of list(json, 'skipped')) if (typeof note === 'string') out.push(`- ${note}`);
  if (list(json, 'skipped').length > 0) out.push('');
  const find = (kind: string, subscribers: number) =>
    results.find((result) => caseOf(result) === kind && num(result, 'subscribers') === subscribers);
  const oneIdentity = find('one identity', GOALS.subscribers.subscribers);
  const perUser = find('per user', GOALS.perUser.subscribers);
  const redis = find('two gateways on Redis', GOALS.acrossRedis.subscribers);
  const p99 = (result: unknown) => num(result, 'latencyMs', 'p99');
  const rss = num(oneIdentity, 'server', 'rssKBPerSubscriber');
  const delivered = num(redis, 'delivered');
  const expected = num(redis, 'expected');
  const notRun = (result: unknown) => (result === undefined ? ' (not run at this size)' : '');
  out.push(
    table(
      ['goal', 'this run', 'verdict'],
      [
        [
          GOALS.subscribers.text,
          `p99 ${fixed(p99(oneIdentity), 0, ' ms')}${notRun(oneIdentity)}`,
          verdict(p99(oneIdentity) === undefined ? undefined : p99(oneIdentity)! < GOALS.subscribers.p99BelowMs),
        ],
        [
          GOALS.perUser.text,
          `p99 ${fixed(p99(perUser), 0, ' ms')}${notRun(perUser)}`,
          verdict(p99(perUser) === undefined ? undefined : p99(perUser)! < GOALS.perUser.p99BelowMs),
        ],
        [
          GOALS.memory.text,
          `${fixed(rss, 1, ' KB')} RSS${notRun(oneIdentity)}`,
          verdict(rss === undefined ? undefined : rss <= GOALS.memory.atMostKB),
        ],
        [
          GOALS.acrossRedis.text,
          `${fixed(delivered)} / ${fixed(expected)}${notRun(redis)}`,
          verdict(delivered === undefined || expected === undefined ? undefined : delivered === expected),
        ],
      ],
    ),
    '',
  );
  const tenThousand = find('one identity', 10_000);
  const tenThousandRss = num(tenThousand, 'server', 'rssKBPerSubscriber');
  out.push(
    table(
      ['10,000 WebSocket subscribers', 'memory', 'source'],
      [
        [
          'ours (10 subscriptions per connection)',
          tenThousandRss === undefined ? NA : `${Math.round((tenThousandRss * 10_000) / 1024)} MB above idle`,
          'measured in this run',
        ],
        [PUBLISHED.cosmoWebSockets.name, PUBLISHED.cosmoWebSockets.figure, PUBLISHED.source],
      ],
    ),
    '',
  );
  return out;
}

function workflowsSection(report: AllReport): string[] {
  const runs = runOf(report, 'workflows');
  if (runs.length === 0) return [];
  const out = ['## Workflow engine', ''];
  for (const run of runs.filter(failed)) out.push(failureNote(run), '');
  const results = runs.flatMap((run) => list(run.json, 'results'));
  if (results.length > 0) {
    out.push(
      'A five-step workflow through the gateway, as the web app drives it:',
      '',
      table(
        ['mode', 'executions/s', 'end-to-end p50', 'p95', 'engine overhead per step, p50', 'p95', 'CPU per execution'],
        results.map((result) => [
          str(result, 'mode') ?? NA,
          fixed(num(result, 'throughput', 'executionsPerSecond'), 1),
          fixed(num(result, 'latencyMs', 'p50'), 1, ' ms'),
          fixed(num(result, 'latencyMs', 'p95'), 1, ' ms'),
          fixed(num(result, 'stepOverheadMs', 'p50'), 1, ' ms'),
          fixed(num(result, 'stepOverheadMs', 'p95'), 1, ' ms'),
          fixed(num(result, 'throughput', 'cpuMsPerExecution'), 1, ' ms'),
        ]),
      ),
      '',
      "Where a run's time goes (p50 of the sequential runs, by the engine's own step timestamps, to the millisecond): from runWorkflow sent to the first step started (the mutation, recording the execution, the queue, the claim); from the first step started to the last finished, less the outside server's time, per step (each step's run and the statement settling it and claiming the next); from the last step finished to the watcher seeing the execution finished (the settling statement, the outbox relay, the live fan-out):",
      '',
      table(
        ['mode', 'sent → first step', 'inside the engine, per step', 'p95', 'last step → watcher'],
        results.map((result) => [
          str(result, 'mode') ?? NA,
          fixed(num(result, 'runBreakdown', 'acceptedToFirstStepMs', 'p50'), 1, ' ms'),
          fixed(num(result, 'runBreakdown', 'insideEnginePerStepMs', 'p50'), 1, ' ms'),
          fixed(num(result, 'runBreakdown', 'insideEnginePerStepMs', 'p95'), 1, ' ms'),
          fixed(num(result, 'runBreakdown', 'lastStepToWatcherMs', 'p50'), 1, ' ms'),
        ]),
      ),
      '',
    );
  }
  const postgres = results.find((result) => str(result, 'mode') === 'postgres');
  const throughput = num(postgres, 'throughput', 'executionsPerSecond');
  const overhead = num(postgres, 'stepOverheadMs', 'p50');
  const ranOnPostgres = runs.some((run) => run.label.includes('postgres'));
  const absent =
    postgres !== undefined
      ? ''
      : ranOnPostgres
        ? ' (the PostgreSQL run failed)'
        : ' (PostgreSQL mode not run: TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_AMQP_URL unset)';
  out.push(
    table(
      ['goal (PostgreSQL and RabbitMQ)', 'this run', 'verdict'],
      [
        [
          GOALS.workflowThroughput.text,
          `${fixed(throughput, 1)} executions/s${absent}`,
          verdict(throughput === undefined ? undefined : throughput >= GOALS.workflowThroughput.atLeast),
        ],
        [
          GOALS.stepOverhead.text,
          `${fixed(overhead, 1, ' ms')}${absent}`,
          verdict(overhead === undefined ? undefined : overhead < GOALS.stepOverhead.belowMs),
        ],
      ],
    ),
    '',
  );
  return out;
}

function conformanceSection(): string[] {
  return [
    '## Federation conformance',
    '',
    table(
      ['gateway', 'cases passed', 'source'],
      [
        ['ours', 'see tests: `gateway/test/federation-conformance.test.ts` (a test, not a benchmark)', 'this repository'],
        [PUBLISHED.hiveRouter.name, PUBLISHED.hiveRouter.figure, PUBLISHED.source],
        [PUBLISHED.apolloRouter.name, PUBLISHED.apolloRouter.figure, PUBLISHED.source],
      ],
    ),
    '',
  ];
}

export function renderReport(report: AllReport): string {
  const { machine } = report;
  const failures = report.runs.filter(failed);
  return [
    `# Benchmarks: one run of \`npm run bench${report.quick ? ' -- --quick' : ''}\``,
    '',
    `${machine.cpuModel ?? NA} (${fixed(machine.cores)} cores, ${fixed(machine.availableParallelism)} usable), ${fixed(machine.memoryGB, 1)} GB, ` +
      `Node ${machine.node ?? NA}, ${machine.platform ?? NA}. Started ${report.startedAt}, took ${Math.round(report.seconds / 60)} min; ` +
      `load average ${report.loadAverage.start.toFixed(1)} at the start, ${report.loadAverage.end.toFixed(1)} at the end. ` +
      'Everything (benchmarks, servers, load generators) runs on this one machine, over loopback.' +
      (report.quick ? ' **Quick run**: shorter phases and smaller cases; the goals’ sizes were not run, so their verdicts are n/a.' : ''),
    '',
    table(
      ['benchmark', 'command', 'took', 'outcome'],
      report.runs.map((run) => [run.label, `\`${run.command}\``, `${Math.round(run.seconds)} s`, failed(run) ? '**failed**' : 'ok']),
    ),
    '',
    `Published figures are labelled as such: ${PUBLISHED.source.toLowerCase()}.`,
    '',
    ...gatewaySection(report),
    ...subscriptionsSection(report),
    ...workflowsSection(report),
    ...conformanceSection(),
    ...(failures.length > 0 ? [`${failures.length} benchmark(s) failed: ${failures.map((run) => run.label).join(', ')}.`, ''] : []),
  ].join('\n');
}
