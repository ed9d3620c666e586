/**
 * Every benchmark figure of issue 19 in one run and one report:
 *
 *   npm run bench -- [--only gateway,subscriptions,workflows] [--quick] [--out report.md] [--json all.json]
 *
 * Runs each benchmark as a child process with `--json <file>`, one after the other (never two at once: they would
 * share the cores they measure), each within a time budget, then prints one markdown report: the machine, and per
 * area the figures side by side with the goals and the peers (measured: stock @apollo/gateway; published figures are
 * labelled so). A benchmark that fails, or outlives its budget, is reported, the others still run, and the exit
 * status is 1. `--quick` runs short phases and small cases, to check the whole chain in a few minutes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { testEnvironment } from '@nexusflow/kit/testing';
import { repositoryRoot } from '../scripts/topology.ts';
import { failed, renderReport, type AllReport, type Area, type ChildRun } from './all/report.ts';
import { machineFacts, progress } from './support.ts';

const AREAS: readonly Area[] = ['gateway', 'subscriptions', 'workflows'];
const TAIL_LINES = 30;
/** After SIGTERM, a benchmark that overran its budget gets this long to stop its own servers before SIGKILL. */
const KILL_GRACE_MS = 15_000;

interface Step {
  area: Area;
  label: string;
  entry: string;
  args: string[];
  budgetMs: number;
}

const minutes = (count: number) => count * 60_000;

/**
 * What runs, in order, with a budget each. Defaults: about 15–20 minutes on a 2-core machine; `--quick` about 5.
 * Budgets are several times each benchmark's usual duration: they stop a hung benchmark, not a slow machine.
 */
function plan(only: Set<Area>, quick: boolean): Step[] {
  const realServers = Boolean(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl);
  const steps: Step[] = [
    // One run per group of scenarios, so that one failing loses only its own figures; deep and start-up share gateways.
    ...[
      { scenarios: 'deep,startup', budget: quick ? 8 : 15 },
      { scenarios: 'direct', budget: quick ? 4 : 8 },
      { scenarios: 'statements', budget: quick ? 4 : 6 },
    ].map(({ scenarios, budget }) => ({
      area: 'gateway' as const,
      label: `gateway (${scenarios.replace(',', ', ')})`,
      entry: 'bench/gateway.ts',
      args: ['--only', scenarios, ...(quick ? ['--seconds', '4', '--warmup', '1', '--rounds', '1'] : [])],
      budgetMs: minutes(budget),
    })),
    {
      area: 'subscriptions',
      label: 'subscriptions',
      entry: 'bench/subscriptions.ts',
      args: quick ? ['--subscribers', '1000', '--per-user', '1000:100', '--shared-across-users', '1000:100', '--redis', '1000'] : [],
      budgetMs: minutes(quick ? 8 : 25),
    },
    ...(realServers ? (['postgres', 'deployed', 'embedded'] as const) : (['embedded'] as const)).map((mode) => ({
      area: 'workflows' as const,
      label: `workflows (${mode})`,
      entry: 'bench/workflows.ts',
      args: ['--mode', mode, ...(quick ? ['--executions', '40'] : [])],
      budgetMs: minutes(quick ? 5 : 12),
    })),
  ];
  return steps.filter((step) => only.has(step.area));
}

/** Runs one benchmark in its own process group, so that a budget overrun stops the servers it started too. */
async function runStep(step: Step, scratch: string): Promise<ChildRun> {
  const jsonFile = join(scratch, `${step.label.replace(/\W+/g, '-')}.json`);
  const args = [...step.args, '--json', jsonFile];
  const command = `tsx ${step.entry} ${step.args.join(' ')}`.trim();
  progress(`\n=== ${step.label}: ${command} (budget ${Math.round(step.budgetMs / 60_000)} min)`);
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', step.entry, ...args], {
    cwd: repositoryRoot,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail.push(...chunk.toString().split('\n'));
    tail.splice(0, Math.max(0, tail.length - TAIL_LINES));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    }
  };
  let timedOut = false;
  const budget = setTimeout(() => {
    timedOut = true;
    progress(`=== ${step.label}: over its budget; stopping it`);
    signalGroup('SIGTERM');
    setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS).unref();
  }, step.budgetMs);
  const interrupted = () => signalGroup('SIGTERM');
  process.once('SIGINT', interrupted);
  const exitCode = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  clearTimeout(budget);
  process.off('SIGINT', interrupted);
  const json = await readFile(jsonFile, 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );
  return {
    area: step.area,
    label: step.label,
    command,
    seconds: (performance.now() - started) / 1000,
    exitCode,
    timedOut,
    outputTail: tail.join('\n'),
    json,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: AREAS.join(',') },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const only = new Set(values.only.split(',').map((area) => area.trim()));
  for (const area of only) if (!AREAS.includes(area as Area)) throw new Error(`unknown area ${area}; known: ${AREAS.join(', ')}`);
  const steps = plan(only as Set<Area>, values.quick);
  const scratch = await mkdtemp(join(os.tmpdir(), 'nexusflow-bench-all-'));
  const startedAt = new Date();
  const loadAtStart = os.loadavg()[0]!;
  const runs: ChildRun[] = [];
  try {
    for (const step of steps) runs.push(await runStep(step, scratch));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const report: AllReport = {
    startedAt: startedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    quick: values.quick,
    machine: machineFacts(),
    loadAverage: { start: loadAtStart, end: os.loadavg()[0]! },
    runs,
  };
  const markdown = renderReport(report);
  console.log(markdown);
  if (values.out) await writeFile(values.out, markdown);
  if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
  return runs.some(failed) ? 1 : 0;
}

process.exitCode = await main();
