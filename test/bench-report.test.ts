import { describe, expect, it } from 'vitest';
import { renderReport, type AllReport, type ChildRun } from '../bench/all/report.ts';

const load = (throughput: number, p95: number) => ({ requests: throughput * 10, throughput, p50: p95 / 2, p95, p99: p95 * 2, failures: 0 });

const run = (overrides: Partial<ChildRun> & Pick<ChildRun, 'area' | 'label' | 'json'>): ChildRun => ({
  command: `tsx bench/${overrides.area}.ts`,
  seconds: 60,
  exitCode: 0,
  timedOut: false,
  outputTail: '',
  ...overrides,
});

const deep = run({
  area: 'gateway',
  label: 'gateway (deep, startup)',
  json: {
    settings: { seconds: 10, warmup: 2, connections: 50, rounds: 2 },
    deep: {
      responseBytes: 86_000,
      results: { ours: load(150, 400), stock: load(50, 2000), 'ours, one worker per core': load(200, 300) },
      peakRssBytes: { ours: 300 * 2 ** 20, stock: 500 * 2 ** 20, 'ours, one worker per core': 600 * 2 ** 20 },
    },
    startup: { firstQueryMs: { ours: 1900, stock: 1600 }, compositionMs: { fixture: 38, nexusflow: 98 } },
  },
});

const subscriptions = run({
  area: 'subscriptions',
  label: 'subscriptions',
  json: {
    results: [
      {
        case: 'one identity',
        users: 1,
        gateways: 1,
        subscribers: 10_000,
        delivered: 30_000,
        expected: 30_000,
        latencyMs: { p50: 90, p99: 200 },
        server: { rssKBPerSubscriber: 14.5, heapKBPerSubscriber: 9 },
      },
      {
        case: 'one identity',
        users: 1,
        gateways: 1,
        subscribers: 30_000,
        delivered: 90_000,
        expected: 90_000,
        latencyMs: { p50: 200, p99: 310 },
        server: { rssKBPerSubscriber: 12, heapKBPerSubscriber: 8 },
      },
      {
        case: 'per user',
        users: 1000,
        gateways: 1,
        subscribers: 10_000,
        delivered: 30_000,
        expected: 30_000,
        latencyMs: { p50: 80, p99: 240 },
        server: {},
      },
      {
        case: 'two gateways on Redis',
        users: 1,
        gateways: 2,
        subscribers: 50_000,
        delivered: 149_990,
        expected: 150_000,
        latencyMs: { p50: 400, p99: 900 },
      },
    ],
    skipped: [],
  },
});

const workflows = run({
  area: 'workflows',
  label: 'workflows (postgres)',
  json: {
    results: [
      {
        mode: 'postgres',
        throughput: { executionsPerSecond: 260.4 },
        latencyMs: { p50: 20, p95: 30 },
        stepOverheadMs: { p50: 6.2, p95: 8 },
        runBreakdown: {
          acceptedToFirstStepMs: { p50: 7, p95: 9, p99: 9 },
          insideEnginePerStepMs: { p50: 3.4, p95: 4.8, p99: 5 },
          lastStepToWatcherMs: { p50: 6, p95: 8, p99: 8 },
        },
      },
    ],
  },
});

const report = (runs: ChildRun[], quick = false): AllReport => ({
  startedAt: '2026-12-01T17:00:00Z',
  seconds: 1100,
  quick,
  machine: { cpuModel: 'Test CPU', cores: 2, availableParallelism: 2, memoryGB: 8, node: 'v24.21.0', platform: 'linux' },
  loadAverage: { start: 1.2, end: 1.5 },
  runs,
});

/** The row of a markdown table whose first cell starts with `first`. */
const row = (markdown: string, first: string) => markdown.split('\n').find((line) => line.startsWith(`| ${first}`)) ?? '';

describe('the report of npm run bench', () => {
  it('puts each gateway beside stock as a multiple of its throughput, and holds ours to the goals', () => {
    const markdown = renderReport(report([deep, subscriptions, workflows]));

    expect(row(markdown, 'ours, one worker per core |')).toContain('4.00×');
    expect(row(markdown, 'ours, one process')).toContain('3.00×');
    expect(row(markdown, 'Deep federated query: at least 4×')).toContain('**not met**');
    expect(row(markdown, 'Deep federated query: p95 at most a quarter')).toContain('0.20×');
    expect(row(markdown, 'Deep federated query: p95 at most a quarter')).toContain('**met**');
    expect(row(markdown, 'Deep federated query: peak memory')).toContain('**met**');
    expect(markdown).toContain('Start-up** to the first answered deep query: ours 1,900 ms, stock 1,600 ms');
  });

  it('labels the peers’ figures as published and not measured here', () => {
    const markdown = renderReport(report([deep, subscriptions, workflows]));

    expect(row(markdown, 'Hive Gateway (Node)')).toMatch(/≈3\.2× \| Published, not measured here/);
    expect(row(markdown, 'Cosmo Router (Go)')).toMatch(/≈7× \| Published, not measured here/);
    expect(row(markdown, 'Cosmo Router |')).toContain('≈150–200 MB');
    expect(row(markdown, 'Hive Router')).toContain('199 of 199');
    expect(row(markdown, 'Apollo Router')).toContain('194 of 199');
    expect(markdown).toContain('| ours | see tests: `gateway/test/federation-conformance.test.ts`');
  });

  it('judges the subscription goals on the cases of their size, and says when events were lost', () => {
    const markdown = renderReport(report([deep, subscriptions, workflows]));

    expect(row(markdown, '30,000 subscribers on one gateway')).toMatch(/p99 310 ms \| \*\*not met\*\*/);
    expect(row(markdown, '10,000 subscribers of 1,000 distinct users')).toMatch(/p99 240 ms \| \*\*met\*\*/);
    expect(row(markdown, 'At most 16 KB per subscriber')).toMatch(/12\.0 KB RSS \| \*\*met\*\*/);
    expect(row(markdown, '50,000 subscribers across two gateways')).toMatch(/149,990 \/ 150,000 \| \*\*not met\*\*/);
    expect(row(markdown, 'ours (10 subscriptions per connection)')).toContain('142 MB above idle');
  });

  it('holds the workflow engine on PostgreSQL to its goals', () => {
    const markdown = renderReport(report([deep, subscriptions, workflows]));

    expect(row(markdown, 'At least 250 five-step executions')).toMatch(/260\.4 executions\/s \| \*\*met\*\*/);
    expect(row(markdown, 'Engine overhead per step')).toMatch(/6\.2 ms \| \*\*not met\*\*/);
  });

  it("splits a workflow run's time where the engine's own step timestamps allow", () => {
    const markdown = renderReport(report([deep, subscriptions, workflows]));

    expect(markdown).toContain('| postgres | 7.0 ms | 3.4 ms | 4.8 ms | 6.0 ms |');
  });

  it('shows n/a for what a benchmark did not report, instead of failing', () => {
    const markdown = renderReport(report([deep, subscriptions, workflows]));

    expect(row(markdown, 'per user')).toMatch(/\| n\/a \| n\/a \|$/);
    expect(row(markdown, 'ours |')).not.toContain('NaN');
    expect(markdown).not.toContain('undefined');
  });

  it('reports a failed benchmark with its last lines, and gives the goals it measures no verdict', () => {
    const crashed = run({
      area: 'workflows',
      label: 'workflows (postgres)',
      exitCode: 1,
      outputTail: 'bench failed: connection refused',
      json: undefined,
    });
    const markdown = renderReport(report([deep, subscriptions, crashed]));

    expect(markdown).toContain('**workflows (postgres) failed**: exited with status 1');
    expect(markdown).toContain('bench failed: connection refused');
    expect(row(markdown, 'At least 250 five-step executions')).toMatch(/\| n\/a \|$/);
    expect(markdown).toContain('1 benchmark(s) failed: workflows (postgres).');
  });

  it('says that a quick run did not run the goals’ sizes', () => {
    const small = run({
      area: 'subscriptions',
      label: 'subscriptions',
      json: { results: [{ case: 'one identity', subscribers: 1000, delivered: 3000, expected: 3000, latencyMs: { p50: 50, p99: 90 } }] },
    });
    const markdown = renderReport(report([small], true));

    expect(markdown).toContain('**Quick run**');
    expect(row(markdown, '30,000 subscribers on one gateway')).toMatch(/not run at this size\) \| n\/a \|$/);
  });
});
