/**
 * Subscription fan-out benchmark: N graphql-ws subscribers watching ONE execution through the gateway. Three kinds of
 * case, all in the default run:
 *
 * - one identity (`--subscribers 1000,10000,30000`): every subscriber is the same user, so one gateway should hold a
 *   single upstream subscription and resolve each event once for all of them;
 * - per user (`--per-user 10000:1000`, subscribers:users, `none` to skip): the subscribers are that many distinct users
 *   of one tenant (access tokens minted for them), so sharing is per user: one upstream subscription and one
 *   resolution per user;
 * - shared across users (`--shared-across-users 10000:1000`, `none` to skip): the same, on a gateway told that the
 *   subgraphs the subscription reads (workflows and auth) answer every user of a tenant with the same roles alike
 *   (SUBSCRIPTIONS_SHARED_ACROSS_USERS), so that those users share one upstream subscription and one resolution;
 * - two gateways on Redis (`--redis 50000`, `none` to skip): the subscribers split over two gateway instances whose
 *   workflows subgraph fans its updates out through Redis pub/sub (and whose rate limits and revoked sessions live
 *   there too). Needs a Redis: TEST_REDIS_URL, else REDIS_URL; without one the case is skipped, saying so.
 *
 *   npm run bench:subscriptions -- [--subscribers 1000,10000,30000] [--per-user 10000:1000]
 *                                  [--shared-across-users 10000:1000] [--redis 50000]
 *                                  [--per-connection 10] [--client lean|graphql-ws] [--json out.json]
 *
 * The gateway and the subgraphs run in this process (embedded storage, loopback only); the subscribers run in
 * a child process of their own, so that this process's heap and RSS are the server side's alone, and the two
 * sides do not share one event loop. graphql-ws multiplexes: each WebSocket connection carries
 * `--per-connection` subscriptions, and the gateway's per-connection and per-tenant limits are raised to fit. The
 * subscribers speak graphql-transport-ws through a lean client (`--client lean`, the default: parse, route by id, no
 * more), so that the figures are the server's rather than the subscriber process's backlog; `--client graphql-ws`
 * uses graphql-ws's own client instead.
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
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { RecordingServer } from '../test/support/recording-server.ts';
import type { Environment } from '@nexusflow/kit/core';
import type { Stack } from '../test/support/stack.ts';
import { collector, GatewayProcess, settledMemory, type MemorySample } from './subscriptions/gateway-process.ts';
import { LeanClient, type SubscriberClient } from './subscriptions/lean-client.ts';

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
  | {
      kind: 'open';
      /** Gateways; connection i goes to urls[i % urls.length]. */
      urls: string[];
      /** Identities; the subscribers are split evenly among them, and a connection carries one identity's only. */
      tokens: string[];
      executionId: string;
      subscribers: number;
      perConnection: number;
      client: ClientKind;
      timeoutMs: number;
    }
  | { kind: 'collect'; releasedAt: number; timeoutMs: number }
  | { kind: 'close' };

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
  const clients: SubscriberClient[] = [];
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

  /** `Date.parse`, remembering the last answer: every subscriber of an event gets the same timestamp. */
  let lastOccurredAt: { text: string; ms: number } | undefined;
  const occurredAtMs = (text: string) => {
    if (lastOccurredAt?.text !== text) lastOccurredAt = { text, ms: Date.parse(text) };
    return lastOccurredAt.ms;
  };

  /** One subscriber; `onFirst` is called once, with its first message, be it a snapshot or an error. */
  const subscribe = (client: SubscriberClient, executionId: string, onFirst: () => void) => {
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
          const occurredAt = update.occurredAt ? occurredAtMs(update.occurredAt) : Number.NaN;
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
    const plan: { url: string; token: string; subscriptions: number }[] = [];
    const perToken = Math.ceil(message.subscribers / message.tokens.length);
    let unplanned = message.subscribers;
    for (const token of message.tokens) {
      let mine = Math.min(perToken, unplanned);
      unplanned -= mine;
      while (mine > 0) {
        const subscriptions = Math.min(message.perConnection, mine);
        plan.push({ url: message.urls[plan.length % message.urls.length]!, token, subscriptions });
        mine -= subscriptions;
      }
    }
    let next = 0;
    let connectionFailures = 0;
    const lane = async () => {
      while (next < plan.length && Date.now() < deadline) {
        const { url, token, subscriptions } = plan[next++]!;
        let pending = subscriptions;
        let settle!: () => void;
        const settled = new Promise<void>((resolve) => (settle = resolve));
        const on = {
          closed: (event: unknown) => {
            const { code, reason } = event as { code?: number; reason?: string };
            if (code !== 1000) {
              connectionFailures++;
              noteError(`connection closed ${code} ${reason ?? ''}`.trim());
            }
            settle();
          },
          error: (error: unknown) => {
            noteError(error);
            settle();
          },
        };
        const connectionParams = { authorization: `Bearer ${token}` };
        const client: SubscriberClient =
          message.client === 'lean'
            ? new LeanClient({ url, connectionParams, on })
            : createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, on });
        clients.push(client);
        for (let s = 0; s < subscriptions; s++) subscribe(client, message.executionId, () => --pending === 0 && settle());
        await within(settled, Math.max(1, deadline - Date.now()), 'the first messages of one connection').catch(noteError);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, plan.length) }, lane));
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
  /** Cases of one identity on one gateway. */
  subscribers: number[];
  /** The case of distinct users on one gateway, if any. */
  perUser: { subscribers: number; users: number } | undefined;
  /** The same on a gateway that shares subscriptions across users alike in tenant and roles, if any. */
  sharedAcrossUsers: { subscribers: number; users: number } | undefined;
  /** The case of two gateways on Redis, if any (run only when a Redis is configured). */
  redis: number | undefined;
  perConnection: number;
  client: ClientKind;
  /** Where the gateways run: each in a process of its own (the default, as deployed), or in this one with the subgraphs. */
  gatewayPlacement: 'process' | 'inline';
  json: string | undefined;
  /**
   * Where the subgraphs keep their data: embedded (PGlite, the default) or the real PostgreSQL, Redis and RabbitMQ of the
   * tests (TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_AMQP_URL), where every case's updates travel through Redis.
   */
  storage: 'embedded' | 'postgres';
  /** A folder for a CPU profile of the gateway process (subgraphs included) while each case's events are delivered. */
  profile: string | undefined;
}

type CaseKind = 'one identity' | 'per user' | 'shared across users' | 'two gateways on Redis';

/** The subgraphs the benchmark's subscription reads, declared to the sharing gateway as answering alike users alike. */
const SHARED_SUBGRAPHS = 'workflows,auth';

/** The subscribers' client: the lean protocol client (the default), or graphql-ws's own `createClient`. */
type ClientKind = 'lean' | 'graphql-ws';

interface Case {
  kind: CaseKind;
  subscribers: number;
  /** Distinct identities among the subscribers. */
  users: number;
  gateways: number;
}

interface Percentiles {
  p50: number;
  p99: number;
}

interface RoundResult {
  /** Which case: `one identity` (the only kind before the per-user and Redis cases were added). */
  case: CaseKind;
  users: number;
  gateways: number;
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
      subscribers: { type: 'string', default: '1000,10000,30000' },
      'per-user': { type: 'string', default: '10000:1000' },
      'shared-across-users': { type: 'string', default: '10000:1000' },
      redis: { type: 'string', default: '50000' },
      'per-connection': { type: 'string', default: '10' },
      client: { type: 'string', default: 'lean' },
      gateway: { type: 'string', default: 'process' },
      json: { type: 'string' },
      profile: { type: 'string' },
      storage: { type: 'string', default: 'embedded' },
    },
    strict: true,
  });
  const none = (value: string) => value === 'none' || value === '' || value === '0';
  const perUser = values['per-user'];
  if (values.client !== 'lean' && values.client !== 'graphql-ws')
    throw new Error(`--client must be lean or graphql-ws, got "${values.client}"`);
  if (values.gateway !== 'process' && values.gateway !== 'inline')
    throw new Error(`--gateway must be process or inline, got "${values.gateway}"`);
  const usersCase = (flag: string, value: string) => {
    if (none(value)) return undefined;
    const [subscribers = '', users = ''] = value.split(':');
    return { subscribers: positiveInteger(flag, subscribers), users: positiveInteger(flag, users) };
  };
  return {
    subscribers: values.subscribers
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part && !none(part))
      .map((part) => positiveInteger('subscribers', part)),
    perUser: usersCase('per-user', perUser),
    sharedAcrossUsers: usersCase('shared-across-users', values['shared-across-users']),
    redis: none(values.redis) ? undefined : positiveInteger('redis', values.redis),
    perConnection: positiveInteger('per-connection', values['per-connection']),
    client: values.client,
    gatewayPlacement: values.gateway,
    json: values.json,
    profile: values.profile,
    storage: values.storage === 'postgres' ? 'postgres' : 'embedded',
  };
}

/** The Redis of the two-gateway case: the tests' one, else the services'. */
function configuredRedis(): string | undefined {
  return process.env.TEST_REDIS_URL || process.env.REDIS_URL || undefined;
}

function casesOf(options: Options): Case[] {
  return [
    ...options.subscribers.map((subscribers): Case => ({ kind: 'one identity', subscribers, users: 1, gateways: 1 })),
    ...(options.perUser ? [{ kind: 'per user' as const, ...options.perUser, gateways: 1 }] : []),
    ...(options.sharedAcrossUsers ? [{ kind: 'shared across users' as const, ...options.sharedAcrossUsers, gateways: 1 }] : []),
    ...(options.redis && configuredRedis()
      ? [{ kind: 'two gateways on Redis' as const, subscribers: options.redis, users: 1, gateways: 2 }]
      : []),
  ];
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

/** A gateway the benchmark drives, in this process or in one of its own. */
interface BenchGateway {
  url: string;
  graphqlUrl: string;
}

async function metric(gateway: BenchGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)`, 'm').exec(text)?.[1] ?? Number.NaN);
}

async function pollMetric(gateway: BenchGateway, name: string, expected: number, timeoutMs: number): Promise<number> {
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
  /** The gateways subscribers connect to: one, or two sharing the subgraphs. */
  gateways: BenchGateway[];
  /** The gateway that shares subscriptions across users alike (SHARED_SUBGRAPHS declared); only with that case. */
  sharingGateway(): BenchGateway;
  /** The memory of the server side after garbage collection: the processes of these gateways, or this one when they run in it. */
  serverMemory(gateways: BenchGateway[]): Promise<MemorySample>;
  /** Starts a CPU profile of the server side: the process of the case's first gateway, or this one. Returns what saves it. */
  profile(folder: string, gateway: BenchGateway): Promise<(name: string) => Promise<void>>;
  close(): Promise<void>;
  token: string;
  /** Access tokens of `count` distinct users of the watcher's tenant, the watcher first. */
  usersOfTenant(count: number): Promise<string[]>;
  heldRun(path: string): Promise<string>;
}

async function setUp(cases: Case[], options: Options, redisUrl?: string): Promise<Setup> {
  const { RecordingServer } = await import('../test/support/recording-server.ts');
  const { startStack } = await import('../test/support/stack.ts');
  const { postGraphQL } = await import('@nexusflow/kit/testing');
  const { signAccessToken, verifyAccessToken } = await import('@nexusflow/kit');
  const { CreateWorkflowDocument, RegisterDocument, RunWorkflowDocument } = await import('@nexusflow/web-client');

  const outside = await new RecordingServer().start();
  // On Redis, the workflows subgraph fans its updates out through Redis pub/sub, and the gateways keep their budgets and
  // read revoked sessions there, under a namespace of this run's own.
  const namespace = `bench-subscriptions-${randomUUID().slice(0, 8)}`;
  const onRedis = redisUrl ? { REDIS_URL: redisUrl, REDIS_NAMESPACE: namespace } : {};
  const stack = await startStack(options.storage, redisUrl ? 'bench_subscriptions_redis' : 'bench_subscriptions', {
    ...(redisUrl && options.storage === 'embedded' ? { workflows: onRedis } : {}),
  });
  const maxConnections = Math.max(...cases.map((c) => Math.ceil(c.subscribers / options.perConnection)));
  const gatewayCount = Math.max(...cases.map((c) => c.gateways));
  const gatewayOverrides = {
    MAX_SUBSCRIPTIONS_PER_CONNECTION: String(options.perConnection),
    MAX_CONNECTIONS_PER_TENANT: String(maxConnections + 10),
    ...(options.storage === 'embedded' ? onRedis : {}),
  };
  const processes: GatewayProcess[] = [];
  const gateways: BenchGateway[] = [];
  const gc = collector();
  const startBenchGateway = async (overrides: Environment): Promise<BenchGateway> => {
    if (options.gatewayPlacement === 'inline') return stack.startGateway(overrides);
    const { env, args } = stack.gatewayEnvironment(overrides);
    const started = await GatewayProcess.start(env, args);
    processes.push(started);
    return started;
  };
  for (let index = 0; index < gatewayCount; index++) gateways.push(await startBenchGateway(gatewayOverrides));
  const sharing = cases.some((c) => c.kind === 'shared across users')
    ? await startBenchGateway({ ...gatewayOverrides, SUBSCRIPTIONS_SHARED_ACROSS_USERS: SHARED_SUBGRAPHS })
    : undefined;
  const sharingGateway = () => {
    if (!sharing) throw new Error('no case shares subscriptions across users');
    return sharing;
  };
  const gateway = gateways[0]!;
  const serverMemory = async (of: BenchGateway[]): Promise<MemorySample> => {
    const measured = processes.filter((started) => of.includes(started));
    if (measured.length === 0) return settledMemory(gc);
    const samples = await Promise.all(measured.map((started) => started.memory()));
    return samples.reduce((sum, sample) => ({
      heapUsed: sum.heapUsed + sample.heapUsed,
      external: sum.external + sample.external,
      rss: sum.rss + sample.rss,
    }));
  };
  const profile = async (folder: string, gateway: BenchGateway) => {
    const first = processes.find((started) => started === gateway);
    if (!first) {
      const profiler = await Profiler.start(folder);
      return (name: string) => profiler.save(name);
    }
    await first.startProfile();
    return async (name: string) => {
      const file = `${folder}/${name}.cpuprofile`;
      await first.saveProfile(file);
      progress(`CPU profile: ${file}`);
    };
  };
  const close = async () => {
    await Promise.all(processes.map((started) => started.close()));
  };

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

  const usersOfTenant = async (count: number): Promise<string[]> => {
    const verified = await verifyAccessToken(token, stack.authConfig.jwtSecret);
    if (!verified.ok || verified.identity.kind !== 'user') throw new Error("the watcher's token does not verify");
    const { tenantId, roles, sessionId } = verified.identity;
    const others = await Promise.all(
      Array.from({ length: count - 1 }, async () => {
        // Distinct users of one tenant, each its own identity; they share the watcher's session only so that the
        // gateway's revocation check (one cached look-up per session a second) stays one look-up, not `count`.
        const minted = await signAccessToken({ userId: randomUUID(), tenantId, roles, sessionId }, stack.authConfig.jwtSecret, 3600);
        return minted.token;
      }),
    );
    return [token, ...others];
  };

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

  return { stack, outside, gateways, sharingGateway, serverMemory, profile, close, token, usersOfTenant, heldRun };
}

/** A CPU profile of this process (the gateways and the subgraphs) over one phase, for `--profile`. */
class Profiler {
  private constructor(
    private readonly session: Session,
    private readonly folder: string,
  ) {}

  static async start(folder: string): Promise<Profiler> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    return new Profiler(session, folder);
  }

  async save(name: string): Promise<void> {
    const { profile } = await this.session.post('Profiler.stop');
    this.session.disconnect();
    const file = `${this.folder}/${name}.cpuprofile`;
    await mkdir(this.folder, { recursive: true });
    await writeFile(file, JSON.stringify(profile));
    progress(`CPU profile: ${file}`);
  }
}

/** A metric summed over the gateways. */
async function totalMetric(gateways: BenchGateway[], name: string): Promise<number> {
  const values = await Promise.all(gateways.map((gateway) => metric(gateway, name)));
  return values.reduce((sum, value) => sum + value, 0);
}

function labelOf(c: Case): string {
  if (c.kind === 'per user') return `N=${c.subscribers} (${c.users} users)`;
  if (c.kind === 'shared across users') return `N=${c.subscribers} (${c.users} users, shared)`;
  if (c.kind === 'two gateways on Redis') return `N=${c.subscribers} (2 gateways, Redis)`;
  return `N=${c.subscribers}`;
}

async function round(setup: Setup, c: Case, options: Options): Promise<RoundResult> {
  const { subscribers } = c;
  const label = labelOf(c);
  const gateways = c.kind === 'shared across users' ? [setup.sharingGateway()] : setup.gateways.slice(0, c.gateways);
  const path = `/held-${subscribers}-${randomUUID()}`;
  const executionId = await setup.heldRun(path);
  const tokens = c.users > 1 ? await setup.usersOfTenant(c.users) : [setup.token];
  const budget = phaseBudget(subscribers);
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const child = new Subscribers((state) => {
    const heapMB = process.memoryUsage().heapUsed / 1024 ** 2;
    progress(
      `${label}:   ${state.snapshots} snapshots, ${state.delivered} events, ${state.extraSnapshots} repeated snapshots, ${state.errorMessages} with errors;` +
        ` heap of this process ${heapMB.toFixed(0)} MB, its event-loop delay max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
    );
    loopDelay.reset();
  });
  try {
    const before = await setup.serverMemory(gateways);
    progress(`${label}: subscribing (${options.perConnection} per connection)`);
    let saveProfile = options.profile ? await setup.profile(options.profile, gateways[0]!) : undefined;
    child.send({
      kind: 'open',
      urls: gateways.map((gateway) => gateway.graphqlUrl.replace('http://', 'ws://')),
      tokens,
      executionId,
      subscribers,
      perConnection: options.perConnection,
      client: options.client,
      timeoutMs: budget,
    });
    const ready = await child.receive('ready', budget + 30_000);
    await saveProfile?.(`${c.kind.replaceAll(' ', '-')}-${subscribers}-subscribing`);
    saveProfile = options.profile ? await setup.profile(options.profile, gateways[0]!) : undefined;
    const upstreamSubscriptions = await totalMetric(gateways, 'gateway_upstream_subscriptions');
    const gatewayWebsocketConnections = await totalMetric(gateways, 'gateway_websocket_connections');
    const after = await setup.serverMemory(gateways);
    progress(`${label}: ${ready.snapshots}/${subscribers} snapshots in ${(ready.ms / 1000).toFixed(1)} s; releasing the step`);

    const releasedAt = Date.now();
    setup.outside.release(path);
    child.send({ kind: 'collect', releasedAt, timeoutMs: budget });
    const events = await child.receive('events', budget + 30_000);
    await saveProfile?.(`${c.kind.replaceAll(' ', '-')}-${subscribers}-delivery`);
    progress(`${label}: ${events.completedSubscribers}/${subscribers} completions in ${(events.ms / 1000).toFixed(1)} s`);

    await child.close();
    let upstreamSubscriptionsAfterClose = 0;
    for (const gateway of gateways) {
      upstreamSubscriptionsAfterClose += await pollMetric(gateway, 'gateway_upstream_subscriptions', 0, METRIC_POLL_MS);
      await pollMetric(gateway, 'gateway_websocket_connections', 0, METRIC_POLL_MS);
    }

    const perSubscriberKB = (from: number, to: number) => (to - from) / 1024 / subscribers;
    const all = events.latencies.flat();
    return {
      case: c.kind,
      users: c.users,
      gateways: c.gateways,
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

const caseLabel = (result: RoundResult) =>
  labelOf({ kind: result.case, subscribers: result.subscribers, users: result.users, gateways: result.gateways });

function report(results: RoundResult[], options: Options, skipped: string[]): string {
  const machine = machineFacts();
  const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : 'n/a');
  const kb = (value: number) => value.toFixed(1);
  const rows = results.map((result) => [
    result.case,
    String(result.subscribers),
    String(result.users),
    String(result.gateways),
    String(result.connections),
    String(result.upstreamSubscriptions),
    `${result.delivered}/${result.expected}`,
    ms(result.latencyMs.p50),
    ms(result.latencyMs.p99),
    kb(result.server.heapKBPerSubscriber),
    kb(result.server.rssKBPerSubscriber),
  ]);
  const notes = results.flatMap((result) => {
    const label = caseLabel(result);
    return [
      ...(result.completedSubscribers < result.subscribers
        ? [
            `${label}: ${result.completedSubscribers}/${result.subscribers} subscribers got every event within ${(result.deliveryMs / 1000).toFixed(0)} s`,
          ]
        : []),
      ...(result.snapshots < result.subscribers ? [`${label}: ${result.snapshots}/${result.subscribers} got the snapshot`] : []),
      ...(result.tally.errorMessages > 0 ? [`${label}: ${result.tally.errorMessages} messages carried errors`] : []),
      ...(result.tally.extraSnapshots > 0 ? [`${label}: ${result.tally.extraSnapshots} repeated snapshots (upstream re-subscribed)`] : []),
      ...(result.tally.unexpected > 0 ? [`${label}: ${result.tally.unexpected} events out of order`] : []),
      ...(result.tally.incomplete > 0 ? [`${label}: ${result.tally.incomplete} updates without the owner's email`] : []),
      ...(result.tally.endedEarly > 0 ? [`${label}: ${result.tally.endedEarly} subscriptions ended before the execution completed`] : []),
      ...result.errors.map((error) => `${label}: ${error}`),
    ];
  });
  return [
    `CPU: ${machine.cpuModel} (${machine.cores} cores), ${machine.memoryGB} GB, Node ${machine.node}, ${machine.platform}`,
    `One execution; ${options.perConnection} subscriptions per WebSocket connection; subscribers in a separate process over loopback, ${options.client === 'lean' ? 'with a lean graphql-transport-ws client (bench/subscriptions/lean-client.ts)' : "with graphql-ws's createClient"}`,
    `Latency: receive time − occurredAt, over workflow.step.completed ×2 and workflow.execution.completed; memory: ${
      options.gatewayPlacement === 'process' ? "the case's gateway processes" : 'this process (gateways and subgraphs)'
    } after GC, Δ / N`,
    '',
    formatTable(
      [
        'case',
        'N',
        'users',
        'gateways',
        'connections',
        'upstream subs',
        'delivered/expected',
        'p50 ms',
        'p99 ms',
        'heap KB/sub',
        'RSS KB/sub',
      ],
      rows,
    ),
    ...(notes.length > 0 || skipped.length > 0 ? ['', ...skipped, ...notes] : []),
  ].join('\n');
}

/** Runs `cases` on one stack of their own, closed afterwards; `done` is called with each result as it comes. */
async function runCases(
  cases: Case[],
  options: Options,
  done: (result: RoundResult) => Promise<void>,
  redisUrl?: string,
): Promise<RoundResult[]> {
  if (cases.length === 0) return [];
  progress(
    `starting the gateway${cases.some((c) => c.gateways > 1) ? 's' : ''} and the subgraphs (${options.storage} storage${redisUrl ? ', Redis pub/sub' : ''})`,
  );
  const setup = await setUp(cases, options, redisUrl);
  const results: RoundResult[] = [];
  try {
    for (const c of cases) {
      const result = await round(setup, c, options);
      results.push(result);
      await done(result);
    }
  } finally {
    await setup.close();
    await setup.stack.close();
    await setup.outside.close();
  }
  return results;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const cases = casesOf(options);
  const redisUrl = configuredRedis();
  const skipped =
    options.redis && !redisUrl
      ? [`two gateways on Redis (${options.redis} subscribers): skipped, no Redis configured (set TEST_REDIS_URL or REDIS_URL)`]
      : [];
  for (const line of skipped) progress(line);
  startWatchdog(
    2 * SETUP_BUDGET_MS +
      cases.reduce((sum, c) => sum + 2 * (phaseBudget(c.subscribers) + 30_000) + 2 * c.gateways * METRIC_POLL_MS + 60_000, 0),
  );
  const onRedis = cases.filter((c) => c.kind === 'two gateways on Redis');
  const results: RoundResult[] = [];
  const save = async () => {
    if (!options.json) return;
    await writeFile(
      options.json,
      `${JSON.stringify({ machine: machineFacts(), options, query: EXECUTION_UPDATED, results, skipped }, null, 2)}\n`,
    );
  };
  // Each case's row as soon as it is measured, and the JSON file kept up to date, so that a later case's failure
  // loses nothing measured before it.
  const done = async (result: RoundResult) => {
    results.push(result);
    progress(report([result], options, []).split('\n').slice(4).join('\n'));
    await save();
  };
  await runCases(
    cases.filter((c) => !onRedis.includes(c)),
    options,
    done,
  );
  await runCases(onRedis, options, done, redisUrl);
  console.log(report(results, options, skipped));
  await save();
}

if (process.argv.includes(CHILD_FLAG)) {
  await subscriberProcess();
} else {
  await runBenchmark(main);
}
