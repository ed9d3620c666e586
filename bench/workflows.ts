/**
 * Workflow engine benchmark: throughput and latency of a five-step workflow, driven through the gateway as
 * the web app drives it, against the embedded storage mode, the real servers, or both.
 *
 *   npm run bench:workflows -- [--mode embedded|postgres|deployed|both|all] [--executions 200] [--concurrency 20]
 *     [--worker-processes 0] [--json out.json]
 *
 * `embedded` and `postgres` run the gateway and every subgraph in the benchmark's process, on embedded storage or on the
 * real servers; `deployed` runs NexusFlow as `npm run start:prod` (and docker-compose.yml) does, a process per service
 * and one for the gateway, on the real servers. `both` is embedded and postgres, `all` the three.
 * With --worker-processes N (postgres mode), the steps run in N worker processes of their own (worker-main.ts, as
 * deployed), and the process of the gateway, the subgraphs and the load runs none.
 */
import { formatTable, machineFacts, percentile, positiveInteger, progress, runBenchmark, startWatchdog, within } from './support.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPubSub, type PubSub } from '@nexusflow/kit';
import { postGraphQL, recordingLogger, testEnvironment } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, RegisterDocument, RunWorkflowDocument, type StepInput } from '@nexusflow/web-client';
import { launch, randomSecret, SERVICE_SECRETS } from '../test/support/launch.ts';
import { launchScript, type LaunchedProcess } from '../test/support/processes.ts';
import { json, RecordingServer, type RecordedCall } from '../test/support/recording-server.ts';
import { startStack, type Stack, type StorageMode } from '../test/support/stack.ts';
import { WorkflowWatch } from '../test/support/workflow-watch.ts';

const STEP_COUNT = 5;
const WARMUP_RUNS = 5;
const LATENCY_RUNS = 30;
/** One execution of five instant steps takes milliseconds; far beyond that, something is stuck. */
const RUN_TIMEOUT_MS = 30_000;
/** The whole run stops by itself: setup and teardown per mode, plus a generous second per execution. */
const MODE_SETUP_BUDGET_MS = 120_000;
const RUN_BUDGET_MS = 1_000;
/** USER_HZ, what /proc counts CPU time in: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Where the gateway and the services run: in the benchmark's process (on either storage), or a process each. */
type Mode = StorageMode | 'deployed';

/** What a mode starts: the gateway's URL, the live updates of the workflows subgraph, and what it all costs in CPU. */
interface Target {
  graphqlUrl: string;
  pubsub: PubSub;
  /** Its processes' CPU time so far (user + system), the benchmark's own included. */
  cpuMs(): Promise<number>;
  close(): Promise<void>;
}

interface Options {
  modes: Mode[];
  executions: number;
  concurrency: number;
  /** Worker processes of their own for the steps, in postgres mode; 0: the subgraph's process runs them. */
  workerProcesses: number;
  json: string | undefined;
}

interface Bench {
  target: Target;
  token: string;
  workflowId: string;
  watch: WorkflowWatch;
  /** Per execution, the milliseconds the outside server spent answering its HTTP steps. */
  outsideMs: Map<string, number>;
}

interface Sample {
  executionId: string;
  ms: number;
  /** Wall clock (ms since the epoch) when runWorkflow was sent and when the finished execution was seen. */
  sentAt: number;
  seenFinishedAt: number;
}

/** When the engine started the first step and finished the last, by its own clock (the machine's). */
interface StepSpan {
  firstStartedAt: number;
  lastFinishedAt: number;
}

/**
 * A sequential run's time, split where the engine's own step timestamps allow: from runWorkflow sent to the first step
 * started (the mutation through the gateway, recording the execution, the step message through the queue, its claim);
 * from the first step started to the last step finished, less the outside server's time, per step (each step's run
 * and the statement settling it and claiming the next: the engine's cost per step without the run's fixed costs); and
 * from the last step finished to the watcher seeing the execution finished (the settling statement, the outbox relay,
 * the live fan-out).
 */
interface RunBreakdown {
  acceptedToFirstStepMs: Percentiles;
  insideEnginePerStepMs: Percentiles;
  lastStepToWatcherMs: Percentiles;
}

interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

interface ModeResult {
  mode: Mode;
  throughput: {
    executions: number;
    concurrency: number;
    seconds: number;
    executionsPerSecond: number;
    /**
     * CPU time (user + system) per execution while the throughput runs, of this process (gateway, subgraphs, engine,
     * load) and of the worker processes if any. On a machine shared with other work, a steadier figure to compare than
     * the wall-clock ones.
     */
    cpuMsPerExecution: number;
  };
  latencyMs: Percentiles & { runs: number };
  outsideMsPerRun: Percentiles;
  stepOverheadMs: Percentiles;
  runBreakdown: RunBreakdown;
}

function parseModes(value: string | undefined): Mode[] {
  const realServers = Boolean(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl);
  const mode = value ?? (realServers ? 'both' : 'embedded');
  const modes: Record<string, Mode[]> = {
    embedded: ['embedded'],
    postgres: ['postgres'],
    deployed: ['deployed'],
    both: ['embedded', 'postgres'],
    all: ['embedded', 'postgres', 'deployed'],
  };
  const chosen = modes[mode];
  if (!chosen) throw new Error(`--mode must be one of ${Object.keys(modes).join(', ')}, got "${mode}"`);
  // Before anything starts: a mode that cannot run should not cost the one before it.
  if (mode !== 'embedded' && !realServers) throw new Error(`--mode ${mode} needs TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL`);
  return chosen;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      executions: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '20' },
      'worker-processes': { type: 'string', default: '0' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const modes = parseModes(values.mode);
  const workerProcesses = values['worker-processes'] === '0' ? 0 : positiveInteger('worker-processes', values['worker-processes']);
  // The embedded queue lives in its process: no other process can take its steps.
  if (workerProcesses > 0 && (modes.includes('embedded') || modes.includes('deployed')))
    throw new Error('--worker-processes needs --mode postgres');
  return {
    modes,
    executions: positiveInteger('executions', values.executions),
    concurrency: positiveInteger('concurrency', values.concurrency),
    workerProcesses,
    json: values.json,
  };
}

/**
 * The outside time of a step is what the server spends in its handler: from having the request (body read) to
 * the response being handed to the socket. Connecting, sending and reading over loopback are work the engine's
 * HTTP client drives, so they count as engine overhead.
 */
function answerTimed(outsideMs: Map<string, number>) {
  return (call: RecordedCall, _attempt: number, res: ServerResponse) => {
    const started = performance.now();
    res.once('finish', () => {
      const { execution } = call.body as { execution: string };
      outsideMs.set(execution, (outsideMs.get(execution) ?? 0) + performance.now() - started);
    });
    json(res, 200, { ok: true, path: call.path });
  };
}

/** http → transform → http → transform → http; each transform reads the call before it, as real workflows do. */
function fiveSteps(outsideUrl: string): StepInput[] {
  const call = (key: string, path: string): StepInput => ({
    key,
    type: 'http',
    config: { method: 'POST', url: `${outsideUrl}${path}`, body: { execution: '{{execution.id}}' } },
  });
  const shape = (key: string, from: string): StepInput => ({
    key,
    type: 'transform',
    config: { template: { status: `{{steps.${from}.output.status}}`, path: `{{steps.${from}.output.body.path}}` } },
  });
  return [
    call('first', '/first'),
    shape('shapeFirst', 'first'),
    call('second', '/second'),
    shape('shapeSecond', 'second'),
    call('third', '/third'),
  ];
}

async function register(gatewayUrl: string): Promise<string> {
  const response = await postGraphQL(gatewayUrl, RegisterDocument, {
    variables: {
      input: {
        email: `bench-${randomUUID()}@example.com`,
        password: 'correct horse battery',
        name: 'Bench Owner',
        tenantName: 'Bench Inc',
      },
    },
  });
  const session = response.data?.register;
  if (session?.__typename !== 'AuthSession') throw new Error(`registration failed: ${JSON.stringify(response)}`);
  return session.accessToken;
}

async function createWorkflow(gatewayUrl: string, token: string, steps: StepInput[]): Promise<string> {
  const response = await postGraphQL(gatewayUrl, CreateWorkflowDocument, {
    token,
    variables: { input: { name: 'Bench five steps', steps } },
  });
  const workflow = response.data?.createWorkflow;
  if (workflow?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(response)}`);
  return workflow.id;
}

/**
 * NexusFlow as `npm run start:prod` runs it (scripts/launch.ts --production): every service in a process of its own and
 * the gateway in its own, each with its heap budget and NODE_ENV=production, on databases, a broker namespace and Redis
 * channels of this run, dropped at the end. Limits are those of the in-process stack (rate limits loose enough for one
 * client's load, steps allowed to call the loopback server).
 */
async function startDeployed(): Promise<Target> {
  const prefix = `nf_bench_workflows_${randomBytes(4).toString('hex')}_`;
  const namespace = prefix.replaceAll('_', '-').replace(/-$/, '');
  const { launcher, gatewayUrl } = await launch(['--production'], {
    JWT_SECRET: randomBytes(32).toString('hex'),
    INTERNAL_SECRET: randomBytes(32).toString('hex'),
    ...Object.fromEntries(SERVICE_SECRETS.map((name) => [name, randomSecret(name)])),
    POSTGRES_URL: testEnvironment.postgresUrl,
    REDIS_URL: testEnvironment.redisUrl,
    AMQP_URL: testEnvironment.amqpUrl,
    AMQP_NAMESPACE: namespace,
    DATABASE_NAME_PREFIX: prefix,
    ALLOW_PRIVATE_NETWORK_STEPS: 'true',
    REGISTRATIONS_PER_ADDRESS: '1000',
    RATE_LIMIT_PER_MINUTE: '100000',
    RATE_LIMIT_PER_TENANT_PER_MINUTE: '100000',
    RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000',
  });
  const pubsub = createPubSub(testEnvironment.redisUrl, recordingLogger().logger, { prefix: `${namespace}:` });
  const started = () => [...launcher.output().matchAll(/ started \(pid (\d+)\)$/gm)].map((match) => Number(match[1]));
  return {
    graphqlUrl: gatewayUrl,
    pubsub,
    cpuMs: async () => {
      return cpuMsWith([launcher.child.pid, ...started()]);
    },
    close: async () => {
      await pubsub.close();
      await launcher.stop('SIGTERM');
      const admin = new pg.Client({ connectionString: testEnvironment.postgresUrl });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [prefix]);
        for (const { datname } of rows) await admin.query(`drop database "${datname}" with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** The gateway and every subgraph in this process, and the worker processes if any. */
function inProcess(stack: Stack, workers: LaunchedProcess[]): Target {
  return {
    graphqlUrl: stack.gateway.graphqlUrl,
    pubsub: stack.workflows.pubsub,
    cpuMs: async () => {
      return cpuMsWith(workers.map((worker) => worker.child.pid));
    },
    close: async () => {
      await stopWorkers(workers);
      await stack.close();
    },
  };
}

async function startWorkers(stack: Stack, count: number): Promise<LaunchedProcess[]> {
  const workers: LaunchedProcess[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const worker = launchScript('subgraphs/nexusflow/workflows/src/worker-main.ts', [], {
        ...process.env,
        ...stack.workflowsEnv,
        RUN_WORKER: 'true',
        PORT: '0',
        LOG_LEVEL: 'info',
      });
      workers.push(worker);
      await within(worker.waitForLine(/worker ready/), MODE_SETUP_BUDGET_MS, 'a worker process');
    }
    return workers;
  } catch (error) {
    await stopWorkers(workers);
    throw error;
  }
}

async function stopWorkers(workers: LaunchedProcess[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));
}

/** User + system CPU milliseconds a process has used, from /proc (Linux): how the workers' share is counted. */
/** This process's CPU milliseconds and those of `pids`. */
async function cpuMsWith(pids: (number | undefined)[]): Promise<number> {
  const own = process.cpuUsage();
  const others = await Promise.all(pids.map((pid) => processCpuMs(pid)));
  return (own.user + own.system) / 1000 + others.reduce((sum, ms) => sum + ms, 0);
}

async function processCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

async function prepare(target: Target, outside: RecordingServer, outsideMs: Map<string, number>): Promise<Bench> {
  for (const path of ['/first', '/second', '/third']) outside.on(path, answerTimed(outsideMs));
  const token = await register(target.graphqlUrl);
  const workflowId = await createWorkflow(target.graphqlUrl, token, fiveSteps(outside.url));
  const watch = await WorkflowWatch.start(target.pubsub, workflowId);
  return { target, token, workflowId, watch, outsideMs };
}

async function runOnce(bench: Bench): Promise<Sample> {
  const sentAt = Date.now();
  const started = performance.now();
  const response = await postGraphQL(bench.target.graphqlUrl, RunWorkflowDocument, {
    token: bench.token,
    variables: { id: bench.workflowId },
  });
  const execution = response.data?.runWorkflow;
  if (execution?.__typename !== 'Execution') throw new Error(`runWorkflow failed: ${JSON.stringify(response)}`);
  const finished = await within(bench.watch.finished(execution.id), RUN_TIMEOUT_MS, `execution ${execution.id}`);
  const ms = performance.now() - started;
  const seenFinishedAt = Date.now();
  if (finished.status !== 'COMPLETED') throw new Error(`execution ${execution.id} ended ${finished.status}`);
  return { executionId: execution.id, ms, sentAt, seenFinishedAt };
}

const STEP_TIMES = `query StepTimes($id: ID!) { execution(id: $id) { stepRuns { startedAt finishedAt } } }`;

/** The engine's own record of when a finished execution's steps ran, read through the gateway as a client would. */
async function stepSpanOf(bench: Bench, executionId: string): Promise<StepSpan> {
  const response = await postGraphQL<{ execution: { stepRuns: { startedAt: string; finishedAt: string | null }[] } | null }>(
    bench.target.graphqlUrl,
    STEP_TIMES,
    { token: bench.token, variables: { id: executionId } },
  );
  const runs = response.data?.execution?.stepRuns ?? [];
  const last = runs.at(-1)?.finishedAt;
  if (runs.length !== STEP_COUNT || !last) throw new Error(`execution ${executionId}: no record of its steps: ${JSON.stringify(response)}`);
  return { firstStartedAt: Date.parse(runs[0]!.startedAt), lastFinishedAt: Date.parse(last) };
}

async function runSequentially(bench: Bench, runs: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let run = 0; run < runs; run++) samples.push(await runOnce(bench));
  return samples;
}

/**
 * Keeps `concurrency` runs in flight until `executions` have been started, each lane starting the next when its
 * run ends. After a failure no lane starts another run, and the others' runs end before the stack is closed.
 */
async function runConcurrently(bench: Bench, executions: number, concurrency: number): Promise<void> {
  let started = 0;
  const lane = async () => {
    while (started < executions) {
      started++;
      try {
        await runOnce(bench);
      } catch (error) {
        started = executions;
        throw error;
      }
    }
  };
  const outcomes = await Promise.allSettled(Array.from({ length: Math.min(concurrency, executions) }, lane));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Nearest-rank percentile, so that every reported value is one that was measured. */
function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

async function measureThroughput(bench: Bench, executions: number, concurrency: number): Promise<ModeResult['throughput']> {
  const started = performance.now();
  const cpuBefore = await bench.target.cpuMs();
  await runConcurrently(bench, executions, concurrency);
  const cpuMs = (await bench.target.cpuMs()) - cpuBefore;
  const seconds = (performance.now() - started) / 1000;
  return { executions, concurrency, seconds, executionsPerSecond: executions / seconds, cpuMsPerExecution: cpuMs / executions };
}

/**
 * Per-step engine overhead of one run = (end-to-end latency − outside time of its three HTTP calls) / 5: every
 * step, transforms included, costs the engine a queue message, a claim and a settling transaction.
 */
async function measureLatency(
  bench: Bench,
  samples: Sample[],
): Promise<Pick<ModeResult, 'latencyMs' | 'outsideMsPerRun' | 'stepOverheadMs' | 'runBreakdown'>> {
  const outside = samples.map((sample) => bench.outsideMs.get(sample.executionId) ?? 0);
  const overhead = samples.map((sample, index) => (sample.ms - outside[index]!) / STEP_COUNT);
  const spans = await Promise.all(samples.map((sample) => stepSpanOf(bench, sample.executionId)));
  return {
    latencyMs: { runs: samples.length, ...percentiles(samples.map((sample) => sample.ms)) },
    outsideMsPerRun: percentiles(outside),
    stepOverheadMs: percentiles(overhead),
    runBreakdown: {
      acceptedToFirstStepMs: percentiles(spans.map((span, index) => span.firstStartedAt - samples[index]!.sentAt)),
      insideEnginePerStepMs: percentiles(
        spans.map((span, index) => (span.lastFinishedAt - span.firstStartedAt - outside[index]!) / STEP_COUNT),
      ),
      lastStepToWatcherMs: percentiles(spans.map((span, index) => samples[index]!.seenFinishedAt - span.lastFinishedAt)),
    },
  };
}

async function benchmarkMode(mode: Mode, options: Options): Promise<ModeResult> {
  const outside = await new RecordingServer().start();
  let target: Target | undefined;
  let watch: WorkflowWatch | undefined;
  try {
    target = mode === 'deployed' ? await startDeployed() : await startInProcess(mode, options);
    const bench = await prepare(target, outside, new Map());
    watch = bench.watch;
    progress(`${mode}: ${WARMUP_RUNS} warm-up runs`);
    await runSequentially(bench, WARMUP_RUNS);
    progress(`${mode}: ${LATENCY_RUNS} sequential runs for latency`);
    const latency = await measureLatency(bench, await runSequentially(bench, LATENCY_RUNS));
    progress(`${mode}: ${options.executions} runs, at most ${options.concurrency} in flight, for throughput`);
    const throughput = await measureThroughput(bench, options.executions, options.concurrency);
    return { mode, throughput, ...latency };
  } finally {
    await watch?.close();
    await target?.close();
    await outside.close();
  }
}

async function startInProcess(mode: StorageMode, options: Options): Promise<Target> {
  const separateWorkers = mode === 'postgres' && options.workerProcesses > 0;
  const stack = await startStack(mode, 'bench_workflows', separateWorkers ? { workflows: { RUN_WORKER: 'false' } } : {});
  try {
    return inProcess(stack, separateWorkers ? await startWorkers(stack, options.workerProcesses) : []);
  } catch (error) {
    await stack.close();
    throw error;
  }
}

function report(results: ModeResult[], options: Options): string {
  const machine = machineFacts();
  const ms = (value: number) => value.toFixed(1);
  const rows = results.map((result) => [
    result.mode,
    result.throughput.executionsPerSecond.toFixed(1),
    result.throughput.cpuMsPerExecution.toFixed(1),
    ms(result.latencyMs.p50),
    ms(result.latencyMs.p95),
    ms(result.latencyMs.p99),
    ms(result.outsideMsPerRun.p50),
    ms(result.stepOverheadMs.p50),
    ms(result.stepOverheadMs.p95),
  ]);
  const breakdownRows = results.map(({ mode, runBreakdown }) => [
    mode,
    ms(runBreakdown.acceptedToFirstStepMs.p50),
    ms(runBreakdown.insideEnginePerStepMs.p50),
    ms(runBreakdown.insideEnginePerStepMs.p95),
    ms(runBreakdown.lastStepToWatcherMs.p50),
  ]);
  return [
    `CPU: ${machine.cpuModel} (${machine.cores} cores), Node ${machine.node}, ${machine.platform}`,
    `Workflow: ${STEP_COUNT} steps (http → transform → http → transform → http), HTTP steps call a local server that answers at once`,
    `Steps run in ${options.workerProcesses > 0 ? `${options.workerProcesses} worker process(es) of their own (postgres mode)` : "the workflows subgraph's process"}`,
    `Throughput: ${options.executions} runs, at most ${options.concurrency} in flight; latency: ${LATENCY_RUNS} runs one at a time; ${WARMUP_RUNS} warm-up runs first`,
    '',
    formatTable(
      [
        'mode',
        'exec/s',
        'CPU ms/exec',
        'e2e p50 ms',
        'e2e p95 ms',
        'e2e p99 ms',
        'outside p50 ms',
        'step overhead p50 ms',
        'step overhead p95 ms',
      ],
      rows,
    ),
    '',
    `Where a sequential run's time goes, by the engine's own step timestamps (ms resolution): sent → first step started; first step started → last step finished, less the outside server's time, per step; last step finished → watcher saw the execution finished`,
    '',
    formatTable(['mode', 'to first step p50 ms', 'inside engine per step p50 ms', 'p95 ms', 'last step to watcher p50 ms'], breakdownRows),
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions();
  startWatchdog(options.modes.length * (MODE_SETUP_BUDGET_MS + (WARMUP_RUNS + LATENCY_RUNS + options.executions) * RUN_BUDGET_MS));
  const results: ModeResult[] = [];
  for (const mode of options.modes) results.push(await benchmarkMode(mode, options));
  console.log(report(results, options));
  if (options.json)
    await writeFile(
      options.json,
      `${JSON.stringify({ machine: machineFacts(), options, stepCount: STEP_COUNT, warmupRuns: WARMUP_RUNS, results }, null, 2)}\n`,
    );
}

await runBenchmark(main);
