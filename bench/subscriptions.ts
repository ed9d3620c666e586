/**
 * Subscription fan-out benchmark: N graphql-ws subscribers watching ONE execution of one user through ONE
 * gateway, which should hold a single upstream subscription on the workflows subgraph for all of them.
 *
 *   npm run bench:subscriptions -- [--subscribers 1000,10000] [--per-connection 10] [--json out.json]
 *
 * The gateway and the subgraphs run in this process (embedded storage, loopback only); the subscribers run in
 * a child process of their own, so that this process's heap and RSS are the server side's alone, and the two
 * sides do not share one event loop. graphql-ws multiplexes: each WebSocket connection carries
 * `--per-connection` subscriptions, and the gateway's per-connection and per-tenant limits are raised to fit.
 *
 * Per N: a run is started whose first step (an HTTP call, with the longest timeout there is) is held by a local
 * server; the subscribers join, a few connections at a time, each waiting for its snapshot; the gateway's
 * /metrics gives the upstream subscriptions and connections; heap and RSS are taken (after GC) before and after
 * the subscribers joined. Then the step is released, and for the three events that follow
 * (workflow.step.completed ×2, workflow.execution.completed) every subscriber's latency is its receive time −
 * the update's own `occurredAt` (when the event was recorded). Every phase has a budget; the wait for events
 * also ends after a minute in which nothing arrived, and what did not arrive is reported as not delivered.
 */
import { formatTable, machineFacts, percentile, positiveInteger, progress, runBenchmark, startWatchdog, within } from './support.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { RecordingServer } from '../test/support/recording-server.ts';
import type { Stack } from '../test/support/stack.ts';
import type { RunningGateway } from '../gateway/src/gateway.ts';

const CHILD_FLAG = '--subscriber-process';

const EXECUTION_UPDATED = `subscription Watch($id: ID!) {
  executionUpdated(id: $id) {
    event
    status
    occurredAt
    execution { id workflow { name owner { email } } }
  }
}`;

const SNAPSHOT = 'workflow.execution.snapshot';
/** What follows the snapshot once the held step is released, in order. */
const FOLLOWING = ['workflow.step.completed', 'workflow.step.completed', 'workflow.execution.completed'] as const;
const WORKFLOW_NAME = 'Bench watched';

/** Connections being opened at once by the subscriber process, so as not to overflow the listen backlog. */
const CONNECT_CONCURRENCY = 32;
/** Budgets that keep every phase bounded: a fixed part plus a part per subscriber. */
const SETUP_BUDGET_MS = 120_000;
const PHASE_BASE_MS = 30_000;
const PHASE_PER_SUBSCRIBER_MS = 20;
const METRIC_POLL_MS = 15_000;
/** The wait for events ends early when no subscriber got anything for this long (a lost event never comes). */
const QUIET_MS = 60_000;

// ---------------------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------------------

type ParentMessage =
  | { kind: 'open'; url: string; token: string; executionId: string; subscribers: number; perConnection: number; timeoutMs: number }
  | { kind: 'collect'; releasedAt: number; timeoutMs: number }
  | { kind: 'close' };

interface MemorySample {
  heapUsed: number;
  external: number;
  rss: number;
}

interface ReadyMessage {
  kind: 'ready';
  connections: number;
  connectionFailures: number;
  snapshots: number;
  ms: number;
  errors: string[];
  memory: { before: MemorySample; after: MemorySample };
}

interface Tally {
  /** Messages received, by `event` (`(errors only)` for ones without data). */
  byEvent: Record<string, number>;
  /** Messages with an errors entry. */
  errorMessages: number;
  /** Snapshots after the first one of a subscriber (an upstream that re-subscribed). */
  extraSnapshots: number;
  /** Events that are not the next one expected. */
  unexpected: number;
  /** Updates without the owner's email or the workflow's name. */
  incomplete: number;
  /** Subscriptions the gateway ended (complete or error) before the execution completed. */
  endedEarly: number;
}

interface EventsMessage extends Tally {
  kind: 'events';
  /** Per expected event (the three after the snapshot), every subscriber's receive time − occurredAt, in ms. */
  latencies: number[][];
  /** Per subscriber that got it, receive time of the first event after the snapshot − the time of release. */
  releaseToFirst: number[];
  delivered: number;
  completedSubscribers: number;
  ms: number;
  errors: string[];
}

interface ProgressMessage {
  kind: 'progress';
  snapshots: number;
  delivered: number;
  extraSnapshots: number;
  errorMessages: number;
}

type ChildMessage = ReadyMessage | EventsMessage | ProgressMessage | { kind: 'closed' } | { kind: 'failed'; error: string };

/** Exposes V8's collector without a command-line flag, so `tsx bench/subscriptions.ts` suffices. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

async function settledMemory(gc: () => void): Promise<MemorySample> {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { heapUsed, external, rss } = process.memoryUsage();
  return { heapUsed, external, rss };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
// The subscriber process
// ---------------------------------------------------------------------------------------------------------

interface Update {
  event?: string;
  occurredAt?: string;
  execution?: { workflow?: { name?: string; owner?: { email?: string } } };
}

async function subscriberProcess(): Promise<void> {
  const send = (message: ChildMessage) => process.send?.(message);
  const gc = collector();
  const clients: Client[] = [];
  const errors: string[] = [];
  /** The first ten distinct problems, so that a flood of one does not hide another. */
  const noteError = (error: unknown) => {
    const text = error instanceof Error ? error.message : typeof error === 'string' ? error : JSON.stringify(error);
    if (errors.length < 10 && !errors.includes(text)) errors.push(text);
  };
  // Exit with the parent, whatever happens there.
  process.on('disconnect', () => process.exit(0));
  const PROGRESS_EVERY_MS = 10_000;

  let subscriberCount = 0;
  let snapshots = 0;
  let delivered = 0;
  let completedSubscribers = 0;
  const tally: Tally = { byEvent: {}, errorMessages: 0, extraSnapshots: 0, unexpected: 0, incomplete: 0, endedEarly: 0 };
  let latencies: number[][] = [];
  let firstEventAt: number[] = [];
  setInterval(
    () => send({ kind: 'progress', snapshots, delivered, extraSnapshots: tally.extraSnapshots, errorMessages: tally.errorMessages }),
    PROGRESS_EVERY_MS,
  ).unref();
  /** Subscribers with nothing more to come: they got the final event, or their subscription ended. */
  let settledSubscribers = 0;
  let lastMessageAt = Date.now();
  let allSettled: () => void = () => undefined;
  const settledDone = new Promise<void>((resolve) => (allSettled = resolve));

  /** One subscriber; `onFirst` is called once, with its first message, be it a snapshot or an error. */
  const subscribe = (client: Client, executionId: string, onFirst: () => void) => {
    let first = true;
    let gotSnapshot = false;
    let position = 0;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      if (++settledSubscribers === subscriberCount) allSettled();
    };
    const end = () => {
      if (position < FOLLOWING.length) tally.endedEarly++;
      settle();
    };
    client.subscribe<{ executionUpdated: Update }>(
      { query: EXECUTION_UPDATED, variables: { id: executionId } },
      {
        next: ({ data, errors: graphqlErrors }) => {
          const receivedAt = Date.now();
          lastMessageAt = receivedAt;
          const update = data?.executionUpdated;
          const event = update?.event ?? '(errors only)';
          if (first) {
            first = false;
            onFirst();
          }
          tally.byEvent[event] = (tally.byEvent[event] ?? 0) + 1;
          if (graphqlErrors?.length) {
            tally.errorMessages++;
            noteError(graphqlErrors);
          } else if (!update?.execution?.workflow?.owner?.email || update.execution.workflow.name !== WORKFLOW_NAME) {
            tally.incomplete++;
          }
          if (!update?.event) return;
          if (update.event === SNAPSHOT) {
            if (gotSnapshot) {
              tally.extraSnapshots++;
              return;
            }
            gotSnapshot = true;
            snapshots++;
            return;
          }
          if (position >= FOLLOWING.length || update.event !== FOLLOWING[position]) {
            tally.unexpected++;
            return;
          }
          const occurredAt = update.occurredAt ? Date.parse(update.occurredAt) : Number.NaN;
          if (Number.isFinite(occurredAt)) latencies[position]!.push(receivedAt - occurredAt);
          if (position === 0) firstEventAt.push(receivedAt);
          delivered++;
          position++;
          if (position === FOLLOWING.length) {
            completedSubscribers++;
            settle();
          }
        },
        error: (error) => {
          noteError(error);
          if (first) {
            first = false;
            onFirst();
          }
          end();
        },
        complete: end,
      },
    );
  };

  /**
   * Opens the connections a few at a time, as clients arrive over a while rather than in one instant: a lane
   * opens a connection, subscribes on it, and waits for the first message of each of its subscriptions before opening the next.
   */
  const open = async (message: Extract<ParentMessage, { kind: 'open' }>): Promise<ReadyMessage> => {
    subscriberCount = message.subscribers;
    latencies = FOLLOWING.map(() => []);
    firstEventAt = [];
    const before = await settledMemory(gc);
    const started = performance.now();
    const deadline = Date.now() + message.timeoutMs;
    const connectionCount = Math.ceil(message.subscribers / message.perConnection);
    let next = 0;
    let connectionFailures = 0;
    const lane = async () => {
      while (next < connectionCount && Date.now() < deadline) {
        const index = next++;
        const subscriptions = Math.min(message.perConnection, message.subscribers - index * message.perConnection);
        let pending = subscriptions;
        let settle!: () => void;
        const settled = new Promise<void>((resolve) => (settle = resolve));
        const client = createClient({
          url: message.url,
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${message.token}` },
          retryAttempts: 0,
          on: {
            closed: (event) => {
              const { code, reason } = event as { code?: number; reason?: string };
              if (code !== 1000) {
                connectionFailures++;
                noteError(`connection closed ${code} ${reason ?? ''}`.trim());
              }
              settle();
            },
            error: (error) => {
              noteError(error);
              settle();
            },
          },
        });
        clients.push(client);
        for (let s = 0; s < subscriptions; s++) subscribe(client, message.executionId, () => --pending === 0 && settle());
        await within(settled, Math.max(1, deadline - Date.now()), 'the first messages of one connection').catch(noteError);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, connectionCount) }, lane));
    const ms = performance.now() - started;
    const after = await settledMemory(gc);
    return {
      kind: 'ready',
      connections: clients.length,
      connectionFailures,
      snapshots,
      ms,
      errors: [...errors],
      memory: { before, after },
    };
  };

  const collect = async (message: Extract<ParentMessage, { kind: 'collect' }>): Promise<EventsMessage> => {
    const started = performance.now();
    const deadline = Date.now() + message.timeoutMs;
    let done = false;
    void settledDone.then(() => (done = true));
    // Until every subscriber has all it will get, the budget is spent, or nothing has arrived for a long while.
    while (!done) {
      const now = Date.now();
      if (now >= deadline) {
        noteError(`not every subscriber got every event within ${message.timeoutMs} ms`);
        break;
      }
      if (now - Math.max(lastMessageAt, message.releasedAt) >= QUIET_MS) {
        noteError(`nothing arrived for ${QUIET_MS / 1000} s; stopped waiting`);
        break;
      }
      await sleep(200);
    }
    return {
      kind: 'events',
      latencies,
      releaseToFirst: firstEventAt.map((at) => at - message.releasedAt),
      delivered,
      completedSubscribers,
      ...tally,
      ms: performance.now() - started,
      errors: [...errors],
    };
  };

  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    const handle = async (): Promise<ChildMessage> => {
      switch (message.kind) {
        case 'open':
          return open(message);
        case 'collect':
          return collect(message);
        case 'close':
          await Promise.all(clients.map(async (client) => client.dispose()));
          return { kind: 'closed' };
      }
    };
    handle().then(send, (error: unknown) =>
      send({ kind: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}

// ---------------------------------------------------------------------------------------------------------
// The benchmark (gateway side)
// ---------------------------------------------------------------------------------------------------------

interface Options {
  subscribers: number[];
  perConnection: number;
  json: string | undefined;
}

interface Percentiles {
  p50: number;
  p99: number;
}

interface RoundResult {
  subscribers: number;
  connections: number;
  subscriptionsPerConnection: number;
  gatewayWebsocketConnections: number;
  upstreamSubscriptions: number;
  upstreamSubscriptionsAfterClose: number;
  snapshots: number;
  subscribeMs: number;
  delivered: number;
  expected: number;
  completedSubscribers: number;
  /** What else the subscribers received, and what was wrong with it. */
  tally: Tally;
  deliveryMs: number;
  latencyMs: Percentiles & { samples: number };
  latencyMsByEvent: (Percentiles & { event: string; samples: number })[];
  releaseToFirstEventMs: Percentiles;
  server: { before: MemorySample; after: MemorySample; heapKBPerSubscriber: number; rssKBPerSubscriber: number };
  client: { heapKBPerSubscriber: number; rssKBPerSubscriber: number };
  errors: string[];
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      subscribers: { type: 'string', default: '1000,10000' },
      'per-connection': { type: 'string', default: '10' },
      json: { type: 'string' },
    },
    strict: true,
  });
  return {
    subscribers: values.subscribers
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => positiveInteger('subscribers', part)),
    perConnection: positiveInteger('per-connection', values['per-connection']),
    json: values.json,
  };
}

/** Nearest-rank percentile, so that every reported value is one that was measured. */
function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

function phaseBudget(subscribers: number): number {
  return PHASE_BASE_MS + subscribers * PHASE_PER_SUBSCRIBER_MS;
}

/** The subscriber process, and a way to wait for its next message of a kind. */
class Subscribers {
  private readonly child: ChildProcess;
  private readonly inbox: ChildMessage[] = [];
  private waiting: (() => void) | undefined;
  private exited: Error | undefined;

  constructor(private readonly onProgress: (progress: ProgressMessage) => void) {
    this.child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message) => {
      const received = message as ChildMessage;
      if (received.kind === 'progress') {
        this.onProgress(received);
        return;
      }
      this.inbox.push(received);
      this.waiting?.();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`subscriber process exited (${code ?? signal})`);
      this.waiting?.();
    });
  }

  send(message: ParentMessage): void {
    this.child.send(message);
  }

  async receive<K extends ChildMessage['kind']>(kind: K, timeoutMs: number): Promise<Extract<ChildMessage, { kind: K }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.inbox.findIndex((message) => message.kind === kind || message.kind === 'failed');
      if (index >= 0) {
        const [message] = this.inbox.splice(index, 1);
        if (message!.kind === 'failed') throw new Error(`subscriber process: ${message!.error}`);
        return message as Extract<ChildMessage, { kind: K }>;
      }
      if (this.exited) throw this.exited;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${kind} from the subscriber process within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      this.send({ kind: 'close' });
      await this.receive('closed', 30_000);
    } catch (error) {
      progress(`closing subscribers: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.child.disconnect();
    await within(exited, 10_000, 'subscriber process exit').catch(() => this.child.kill());
  }
}

async function metric(gateway: RunningGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)`, 'm').exec(text)?.[1] ?? Number.NaN);
}

async function pollMetric(gateway: RunningGateway, name: string, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = await metric(gateway, name);
  while (value !== expected && Date.now() < deadline) {
    await sleep(100);
    value = await metric(gateway, name);
  }
  return value;
}

interface Setup {
  stack: Stack;
  outside: RecordingServer;
  gateway: RunningGateway;
  token: string;
  heldRun(path: string): Promise<string>;
}

async function setUp(options: Options): Promise<Setup> {
  const { RecordingServer } = await import('../test/support/recording-server.ts');
  const { startStack } = await import('../test/support/stack.ts');
  const { postGraphQL } = await import('@nexusflow/kit/testing');
  const { CreateWorkflowDocument, RegisterDocument, RunWorkflowDocument } = await import('@nexusflow/web-client');

  const outside = await new RecordingServer().start();
  const stack = await startStack('embedded', 'bench_subscriptions');
  const maxConnections = Math.max(...options.subscribers.map((n) => Math.ceil(n / options.perConnection)));
  const gateway = await stack.startGateway({
    MAX_SUBSCRIPTIONS_PER_CONNECTION: String(options.perConnection),
    MAX_CONNECTIONS_PER_TENANT: String(maxConnections + 10),
  });

  const registered = (
    await postGraphQL(gateway.graphqlUrl, RegisterDocument, {
      variables: {
        input: {
          email: `bench-watch-${randomUUID()}@example.com`,
          password: 'correct horse battery',
          name: 'Bench Watcher',
          tenantName: 'Bench Watchers',
        },
      },
    })
  ).data?.register;
  if (registered?.__typename !== 'AuthSession') throw new Error('registration failed');
  const token = registered.accessToken;

  const heldRun = async (path: string): Promise<string> => {
    outside.hold(path);
    const created = (
      await postGraphQL(gateway.graphqlUrl, CreateWorkflowDocument, {
        token,
        variables: {
          input: {
            name: WORKFLOW_NAME,
            steps: [
              // Held for as long as subscribing takes: the longest timeout there is, so that no retry interferes.
              { key: 'wait', type: 'http', config: { url: `${outside.url}${path}` }, timeoutMs: 15 * 60_000 },
              { key: 'done', type: 'transform', config: { template: { ok: true } } },
            ],
          },
        },
      })
    ).data?.createWorkflow;
    if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
    const run = (await postGraphQL(gateway.graphqlUrl, RunWorkflowDocument, { token, variables: { id: created.id } })).data?.runWorkflow;
    if (run?.__typename !== 'Execution') throw new Error('runWorkflow failed');
    await within(outside.arrival(path), 30_000, `the held step of ${path}`);
    return run.id;
  };

  return { stack, outside, gateway, token, heldRun };
}

async function round(setup: Setup, subscribers: number, options: Options, gc: () => void): Promise<RoundResult> {
  const path = `/held-${subscribers}-${randomUUID()}`;
  const executionId = await setup.heldRun(path);
  const budget = phaseBudget(subscribers);
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const child = new Subscribers((state) => {
    const heapMB = process.memoryUsage().heapUsed / 1024 ** 2;
    progress(
      `N=${subscribers}:   ${state.snapshots} snapshots, ${state.delivered} events, ${state.extraSnapshots} repeated snapshots, ${state.errorMessages} with errors;` +
        ` gateway process heap ${heapMB.toFixed(0)} MB, event-loop delay max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
    );
    loopDelay.reset();
  });
  try {
    const before = await settledMemory(gc);
    progress(`N=${subscribers}: subscribing (${options.perConnection} per connection)`);
    child.send({
      kind: 'open',
      url: setup.gateway.graphqlUrl.replace('http://', 'ws://'),
      token: setup.token,
      executionId,
      subscribers,
      perConnection: options.perConnection,
      timeoutMs: budget,
    });
    const ready = await child.receive('ready', budget + 30_000);
    const upstreamSubscriptions = await metric(setup.gateway, 'gateway_upstream_subscriptions');
    const gatewayWebsocketConnections = await metric(setup.gateway, 'gateway_websocket_connections');
    const after = await settledMemory(gc);
    progress(`N=${subscribers}: ${ready.snapshots}/${subscribers} snapshots in ${(ready.ms / 1000).toFixed(1)} s; releasing the step`);

    const releasedAt = Date.now();
    setup.outside.release(path);
    child.send({ kind: 'collect', releasedAt, timeoutMs: budget });
    const events = await child.receive('events', budget + 30_000);
    progress(`N=${subscribers}: ${events.completedSubscribers}/${subscribers} completions in ${(events.ms / 1000).toFixed(1)} s`);

    await child.close();
    const upstreamSubscriptionsAfterClose = await pollMetric(setup.gateway, 'gateway_upstream_subscriptions', 0, METRIC_POLL_MS);
    await pollMetric(setup.gateway, 'gateway_websocket_connections', 0, METRIC_POLL_MS);

    const perSubscriberKB = (from: number, to: number) => (to - from) / 1024 / subscribers;
    const all = events.latencies.flat();
    return {
      subscribers,
      connections: ready.connections,
      subscriptionsPerConnection: options.perConnection,
      gatewayWebsocketConnections,
      upstreamSubscriptions,
      upstreamSubscriptionsAfterClose,
      snapshots: ready.snapshots,
      subscribeMs: ready.ms,
      delivered: events.delivered,
      expected: subscribers * FOLLOWING.length,
      completedSubscribers: events.completedSubscribers,
      tally: {
        byEvent: events.byEvent,
        errorMessages: events.errorMessages,
        extraSnapshots: events.extraSnapshots,
        unexpected: events.unexpected,
        incomplete: events.incomplete,
        endedEarly: events.endedEarly,
      },
      deliveryMs: events.ms,
      latencyMs: { samples: all.length, ...percentiles(all) },
      latencyMsByEvent: FOLLOWING.map((event, index) => ({
        event,
        samples: events.latencies[index]?.length ?? 0,
        ...percentiles(events.latencies[index] ?? []),
      })),
      releaseToFirstEventMs: percentiles(events.releaseToFirst),
      server: {
        before,
        after,
        heapKBPerSubscriber: perSubscriberKB(before.heapUsed, after.heapUsed),
        rssKBPerSubscriber: perSubscriberKB(before.rss, after.rss),
      },
      client: {
        heapKBPerSubscriber: perSubscriberKB(ready.memory.before.heapUsed, ready.memory.after.heapUsed),
        rssKBPerSubscriber: perSubscriberKB(ready.memory.before.rss, ready.memory.after.rss),
      },
      errors: [...new Set([...ready.errors, ...events.errors])],
    };
  } finally {
    loopDelay.disable();
    setup.outside.release(path);
    await child.close();
  }
}

function report(results: RoundResult[], options: Options): string {
  const machine = machineFacts();
  const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : 'n/a');
  const kb = (value: number) => value.toFixed(1);
  const rows = results.map((result) => [
    String(result.subscribers),
    String(result.connections),
    String(result.upstreamSubscriptions),
    `${result.delivered}/${result.expected}`,
    ms(result.latencyMs.p50),
    ms(result.latencyMs.p99),
    kb(result.server.heapKBPerSubscriber),
    kb(result.server.rssKBPerSubscriber),
  ]);
  const notes = results.flatMap((result) => [
    ...(result.completedSubscribers < result.subscribers
      ? [
          `N=${result.subscribers}: ${result.completedSubscribers}/${result.subscribers} subscribers got every event within ${(result.deliveryMs / 1000).toFixed(0)} s`,
        ]
      : []),
    ...(result.snapshots < result.subscribers
      ? [`N=${result.subscribers}: ${result.snapshots}/${result.subscribers} got the snapshot`]
      : []),
    ...(result.tally.errorMessages > 0 ? [`N=${result.subscribers}: ${result.tally.errorMessages} messages carried errors`] : []),
    ...(result.tally.extraSnapshots > 0
      ? [`N=${result.subscribers}: ${result.tally.extraSnapshots} repeated snapshots (upstream re-subscribed)`]
      : []),
    ...(result.tally.unexpected > 0 ? [`N=${result.subscribers}: ${result.tally.unexpected} events out of order`] : []),
    ...(result.tally.incomplete > 0 ? [`N=${result.subscribers}: ${result.tally.incomplete} updates without the owner's email`] : []),
    ...(result.tally.endedEarly > 0
      ? [`N=${result.subscribers}: ${result.tally.endedEarly} subscriptions ended before the execution completed`]
      : []),
    ...result.errors.map((error) => `N=${result.subscribers}: ${error}`),
  ]);
  return [
    `CPU: ${machine.cpuModel} (${machine.cores} cores), ${machine.memoryGB} GB, Node ${machine.node}, ${machine.platform}`,
    `One gateway, one execution, one user; ${options.perConnection} subscriptions per WebSocket connection; subscribers in a separate process over loopback`,
    'Latency: receive time − occurredAt, over workflow.step.completed ×2 and workflow.execution.completed; memory: gateway process (with subgraphs) after GC, Δ / N',
    '',
    formatTable(['N', 'connections', 'upstream subs', 'delivered/expected', 'p50 ms', 'p99 ms', 'heap KB/sub', 'RSS KB/sub'], rows),
    ...(notes.length > 0 ? ['', ...notes] : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions();
  startWatchdog(
    SETUP_BUDGET_MS + options.subscribers.reduce((sum, n) => sum + 2 * (phaseBudget(n) + 30_000) + 2 * METRIC_POLL_MS + 60_000, 0),
  );
  const gc = collector();
  progress('starting the gateway and the subgraphs (embedded storage)');
  const setup = await setUp(options);
  const results: RoundResult[] = [];
  try {
    for (const subscribers of options.subscribers) results.push(await round(setup, subscribers, options, gc));
  } finally {
    await setup.stack.close();
    await setup.outside.close();
  }
  console.log(report(results, options));
  if (options.json) {
    await writeFile(options.json, `${JSON.stringify({ machine: machineFacts(), options, query: EXECUTION_UPDATED, results }, null, 2)}\n`);
  }
}

if (process.argv.includes(CHILD_FLAG)) {
  await subscriberProcess();
} else {
  await runBenchmark(main);
}
