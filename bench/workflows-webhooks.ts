/**
 * Webhook-to-run latency: a signed delivery posted over loopback to a workflow's webhook, until the run it starts is
 * recorded RUNNING (the 202 answer, sent once the execution is committed) and until its one step has completed (the
 * live update reaching a subscriber). Against the embedded storage mode, the real servers, or both; stops by itself.
 *
 *   npm run bench:workflows-webhooks -- [--mode embedded|postgres|both] [--deliveries 200] [--json out.json]
 */
import { formatTable, machineFacts, percentile, positiveInteger, progress, runBenchmark, startWatchdog, within } from './support.ts';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { RegisterDocument } from '@nexusflow/web-client';
import { signatureHeader } from '../subgraphs/nexusflow/workflows/src/triggers/webhook-signing.ts';
import { startStack, type Stack, type StorageMode } from '../test/support/stack.ts';
import { WorkflowWatch } from '../test/support/workflow-watch.ts';

const WARMUP_DELIVERIES = 10;
/** A run of one instant step takes milliseconds; far beyond that, something is stuck. */
const RUN_TIMEOUT_MS = 30_000;
const MODE_SETUP_BUDGET_MS = 120_000;
const DELIVERY_BUDGET_MS = 1_000;

const CREATE_WEBHOOK_WORKFLOW = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) { __typename ... on Workflow { id webhook { url secret } } }
}`;

interface Options {
  modes: StorageMode[];
  deliveries: number;
  json: string | undefined;
}

interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

interface ModeResult {
  mode: StorageMode;
  deliveries: number;
  /** Posting the delivery until the 202: the run is committed, RUNNING, its first step sent to the queue. */
  acceptedMs: Percentiles;
  /** Posting the delivery until the run's completion reaches a live subscriber. */
  completedMs: Percentiles;
}

interface Bench {
  stack: Stack;
  webhookUrl: string;
  secret: string;
  watch: WorkflowWatch;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { mode: { type: 'string' }, deliveries: { type: 'string', default: '200' }, json: { type: 'string' } },
    strict: true,
  });
  const realServers = Boolean(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl);
  const mode = values.mode ?? (realServers ? 'both' : 'embedded');
  if (mode !== 'both' && mode !== 'embedded' && mode !== 'postgres')
    throw new Error(`--mode must be embedded, postgres or both, got "${mode}"`);
  return {
    modes: mode === 'both' ? ['embedded', 'postgres'] : [mode],
    deliveries: positiveInteger('deliveries', values.deliveries),
    json: values.json,
  };
}

async function prepare(stack: Stack): Promise<Bench> {
  const registered = await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
    variables: {
      input: {
        email: `bench-${randomUUID()}@example.com`,
        password: 'correct horse battery',
        name: 'Bench Owner',
        tenantName: 'Bench Inc',
      },
    },
  });
  const session = registered.data?.register;
  if (session?.__typename !== 'AuthSession') throw new Error(`registration failed: ${JSON.stringify(registered)}`);
  const created = await postGraphQL<{ createWorkflow: { __typename: string; id: string; webhook: { url: string; secret: string } } }>(
    stack.gateway.graphqlUrl,
    CREATE_WEBHOOK_WORKFLOW,
    {
      token: session.accessToken,
      variables: {
        input: {
          name: 'Bench webhook',
          steps: [{ key: 'shape', type: 'transform', config: { template: { contact: '{{input.contact}}' } } }],
          triggers: [{ type: 'WEBHOOK' }],
        },
      },
    },
  );
  const workflow = created.data?.createWorkflow;
  if (workflow?.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(created)}`);
  const watch = await WorkflowWatch.start(stack.workflows.pubsub, workflow.id);
  // The webhook's public URL names the configured origin; the bench posts to where this process's service listens.
  return { stack, webhookUrl: `${stack.workflows.url}${new URL(workflow.webhook.url).pathname}`, secret: workflow.webhook.secret, watch };
}

async function deliverOnce(bench: Bench): Promise<{ acceptedMs: number; completedMs: number }> {
  const body = JSON.stringify({ contact: { email: `lead-${randomUUID()}@example.com` } });
  const deliveryId = randomUUID();
  const started = performance.now();
  const response = await fetch(bench.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-nexusflow-delivery': deliveryId,
      'x-nexusflow-signature': signatureHeader(bench.secret, Math.floor(Date.now() / 1000), deliveryId, body),
    },
    body,
  });
  const acceptedMs = performance.now() - started;
  if (response.status !== 202) throw new Error(`delivery answered ${response.status}: ${await response.text()}`);
  const { executionId } = (await response.json()) as { executionId: string };
  const finished = await within(bench.watch.finished(executionId), RUN_TIMEOUT_MS, `execution ${executionId}`);
  if (finished.status !== 'COMPLETED') throw new Error(`execution ${executionId} ended ${finished.status}`);
  return { acceptedMs, completedMs: performance.now() - started };
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

async function benchmarkMode(mode: StorageMode, options: Options): Promise<ModeResult> {
  const stack = await startStack(mode, 'bench_webhooks');
  let watch: WorkflowWatch | undefined;
  try {
    const bench = await prepare(stack);
    watch = bench.watch;
    progress(`${mode}: ${WARMUP_DELIVERIES} warm-up deliveries`);
    for (let delivery = 0; delivery < WARMUP_DELIVERIES; delivery++) await deliverOnce(bench);
    progress(`${mode}: ${options.deliveries} deliveries, one at a time`);
    const samples: { acceptedMs: number; completedMs: number }[] = [];
    for (let delivery = 0; delivery < options.deliveries; delivery++) samples.push(await deliverOnce(bench));
    return {
      mode,
      deliveries: samples.length,
      acceptedMs: percentiles(samples.map((sample) => sample.acceptedMs)),
      completedMs: percentiles(samples.map((sample) => sample.completedMs)),
    };
  } finally {
    await watch?.close();
    await stack.close();
  }
}

function report(results: ModeResult[]): string {
  const machine = machineFacts();
  const ms = (value: number) => value.toFixed(1);
  return [
    `CPU: ${machine.cpuModel} (${machine.cores} cores), Node ${machine.node}, ${machine.platform}`,
    'Signed webhook deliveries over loopback, one at a time; the workflow has one transform step',
    '',
    formatTable(
      ['mode', 'deliveries', 'to RUNNING p50 ms', 'p95 ms', 'p99 ms', 'to completed p50 ms', 'p95 ms', 'p99 ms'],
      results.map((result) => [
        result.mode,
        String(result.deliveries),
        ms(result.acceptedMs.p50),
        ms(result.acceptedMs.p95),
        ms(result.acceptedMs.p99),
        ms(result.completedMs.p50),
        ms(result.completedMs.p95),
        ms(result.completedMs.p99),
      ]),
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions();
  startWatchdog(options.modes.length * (MODE_SETUP_BUDGET_MS + (WARMUP_DELIVERIES + options.deliveries) * DELIVERY_BUDGET_MS));
  const results: ModeResult[] = [];
  for (const mode of options.modes) results.push(await benchmarkMode(mode, options));
  console.log(report(results));
  if (options.json) await writeFile(options.json, `${JSON.stringify({ machine: machineFacts(), options, results }, null, 2)}\n`);
}

await runBenchmark(main);
