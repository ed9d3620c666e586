/**
 * Analytics: events a second stored from the bus (publish, the durable queue, the consumer's insert deduplicated by
 * event id into its monthly partition), and the latency of dashboard queries over one tenant's year of events at a
 * given count (seeded straight into the table by SQL, its time reported too). Against the embedded storage mode, the
 * real PostgreSQL with RabbitMQ, or both; stops by itself.
 *
 *   npm run bench:analytics -- [--mode embedded|postgres|both] [--bus-events 5000] [--events 100000] [--runs 10] [--json out.json]
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Role, systemFork, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { testEnvironment, type StorageMode } from '@nexusflow/kit/testing';
import type { AnalyticsServices } from '../subgraphs/nexusflow/analytics/src/context.ts';
import { startServices, TestServices } from '../test/support/services.ts';
import { formatTable, machineFacts, percentile, positiveInteger, progress, startWatchdog, within } from './support.ts';

const BUDGET_MS = 1_800_000;
const SEED_BATCH = 50_000;
const PUBLISH_WINDOW = 200;
const DAY_MS = 86_400_000;
const YEAR_START = new Date('2025-01-01T00:00:00.000Z');
const YEAR_END = new Date('2026-01-01T00:00:00.000Z');
/** The mix of a busy tenant: execution lifecycles, AI calls, syncs, edits and sign-ups, by 1000 users. */
const TYPES = [
  'workflow.execution.started',
  'workflow.execution.completed',
  'workflow.execution.started',
  'workflow.execution.failed',
  'ai.usage.recorded',
  'integration.sync.completed',
  'workflow.updated',
  'user.registered',
];

interface Ingestion {
  mode: StorageMode;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

interface Latency {
  mode: StorageMode;
  events: number;
  query: string;
  p50Ms: number;
  p95Ms: number;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'both' },
      'bus-events': { type: 'string', default: '5000' },
      events: { type: 'string', default: '100000' },
      runs: { type: 'string', default: '10' },
      json: { type: 'string' },
    },
  });
  const modes: StorageMode[] = values.mode === 'both' ? ['embedded', 'postgres'] : [values.mode as StorageMode];
  if (modes.some((mode) => mode !== 'embedded' && mode !== 'postgres')) throw new Error('--mode is embedded, postgres or both');
  if (modes.includes('postgres') && (!testEnvironment.postgresUrl || !testEnvironment.amqpUrl))
    throw new Error('postgres mode needs TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL');
  return {
    modes,
    busEvents: positiveInteger('bus-events', values['bus-events']),
    events: positiveInteger('events', values.events),
    runs: positiveInteger('runs', values.runs),
    json: values.json,
  };
}

async function timed<T>(run: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const started = performance.now();
  const result = await run();
  return { seconds: (performance.now() - started) / 1000, result };
}

/** `count` events of one tenant spread evenly over 2025, written by the database itself (generate_series). */
async function seed(analytics: RunningSubgraph<AnalyticsServices>, tenantId: string, count: number): Promise<void> {
  const em = systemFork(analytics.database);
  for (let month = 0; month < 12; month += 1) await analytics.services.partitions.ensureFor(em, new Date(Date.UTC(2025, month, 1)));
  const stepMs = (YEAR_END.getTime() - YEAR_START.getTime()) / count;
  const types = `array[${TYPES.map((type) => `'${type}'`).join(', ')}]`;
  for (let first = 0; first < count; first += SEED_BATCH) {
    const last = Math.min(first + SEED_BATCH, count) - 1;
    await em.execute(
      `insert into "analytics_events" ("id", "occurred_at", "created_at", "tenant_id", "type", "user_id", "subject_id", "subject_ids",
         "duration_ms", "status", "tokens", "payload")
       select gen_random_uuid(), ?::timestamptz + (i * ?::float8) * interval '1 millisecond', now(), ?::uuid,
         (${types})[1 + i % ${TYPES.length}], 'user-' || (i::bigint * 7919 % 1000), 'execution-' || (i / ${TYPES.length}), '{}'::jsonb,
         case when i % ${TYPES.length} in (1, 3) then 200 + i % 5000 end, null,
         case when i % ${TYPES.length} = 4 then 100 + i % 900 end, '{}'::jsonb
       from generate_series(?::int, ?::int) as i`,
      [YEAR_START, stepMs, tenantId, first, last],
      'run',
    );
    progress(`  seeded ${last + 1} of ${count}`);
  }
  await em.execute('analyze "analytics_events"', [], 'run');
}

async function latencies(analytics: RunningSubgraph<AnalyticsServices>, admin: Identity, runs: number) {
  const { usage, cohorts } = analytics.services;
  const em = () => systemFork(analytics.database);
  const queries: Record<string, () => Promise<unknown>> = {
    'dashboard EVENTS by DAY, 1 year': () => usage.dashboard(em(), admin, 'EVENTS', 'DAY', YEAR_START, YEAR_END),
    'dashboard ACTIVE_USERS by WEEK, 1 year': () => usage.dashboard(em(), admin, 'ACTIVE_USERS', 'WEEK', YEAR_START, YEAR_END),
    'dashboard AI_TOKENS by HOUR, 30 days': () =>
      usage.dashboard(em(), admin, 'AI_TOKENS', 'HOUR', YEAR_START, new Date(YEAR_START.getTime() + 30 * DAY_MS)),
    'usageMetrics, 90 days': () => usage.usage(em(), admin, YEAR_START, new Date(YEAR_START.getTime() + 90 * DAY_MS)),
    'cohorts, 12 weeks': () => cohorts.cohorts(em(), admin, YEAR_START, new Date(YEAR_START.getTime() + 84 * DAY_MS)),
  };
  const figures: { query: string; p50Ms: number; p95Ms: number }[] = [];
  for (const [query, run] of Object.entries(queries)) {
    await run();
    const samples: number[] = [];
    for (let index = 0; index < runs; index += 1) samples.push((await timed(run)).seconds * 1000);
    samples.sort((a, b) => a - b);
    figures.push({ query, p50Ms: Number(percentile(samples, 50).toFixed(1)), p95Ms: Number(percentile(samples, 95).toFixed(1)) });
    progress(`  ${query}: p50 ${figures.at(-1)!.p50Ms} ms`);
  }
  return figures;
}

async function benchMode(mode: StorageMode, options: ReturnType<typeof parseOptions>) {
  const services = await TestServices.create(mode, `bench_analytics_${mode}`);
  try {
    const running: Record<string, RunningSubgraph<unknown>> = {};
    await startServices(services, 'nexusflow', ['analytics'], running, { analytics: { ANALYTICS_PARTITION_INTERVAL_MS: '0' } });
    const analytics = running.analytics as RunningSubgraph<AnalyticsServices>;

    progress(`${mode}: ${options.busEvents} events through the bus`);
    const busTenant = randomUUID();
    const stored = async () =>
      Number(
        (
          await systemFork(analytics.database).execute<{ count: string }[]>(
            `select count(*) as "count" from "analytics_events" where "tenant_id" = ?`,
            [busTenant],
          )
        )[0]!.count,
      );
    const bus = await timed(async () => {
      const publishing = performance.now();
      // Published PUBLISH_WINDOW at a time: one publisher awaiting each broker confirm would measure the publisher.
      for (let first = 0; first < options.busEvents; first += PUBLISH_WINDOW) {
        const window = Array.from({ length: Math.min(PUBLISH_WINDOW, options.busEvents - first) }, (_, offset) => first + offset);
        await Promise.all(
          window.map((index) =>
            analytics.eventBus.publish({
              id: randomUUID(),
              type: 'workflow.execution.completed',
              occurredAt: new Date().toISOString(),
              tenantId: busTenant,
              payload: { executionId: randomUUID(), workflowId: randomUUID(), ownerId: randomUUID(), status: 'COMPLETED', index },
            }),
          ),
        );
      }
      progress(`  published in ${((performance.now() - publishing) / 1000).toFixed(2)} s`);
      await within(
        (async () => {
          while ((await stored()) < options.busEvents) await new Promise((resolve) => setTimeout(resolve, 50));
        })(),
        BUDGET_MS,
        'the bus consumer',
      );
    });
    const ingestion: Ingestion = {
      mode,
      events: options.busEvents,
      seconds: Number(bus.seconds.toFixed(2)),
      eventsPerSecond: Math.round(options.busEvents / bus.seconds),
    };

    progress(`${mode}: seeding ${options.events} events of one tenant over a year`);
    const admin: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Admin] };
    const seeding = await timed(() => seed(analytics, admin.tenantId, options.events));
    progress(`${mode}: seeded in ${seeding.seconds.toFixed(1)} s; querying`);
    const figures = await latencies(analytics, admin, options.runs);
    return {
      ingestion,
      seedSeconds: Number(seeding.seconds.toFixed(1)),
      latencies: figures.map((figure): Latency => ({ mode, events: options.events, ...figure })),
    };
  } finally {
    await services.close();
  }
}

const options = parseOptions();
startWatchdog(BUDGET_MS * options.modes.length);
const results = [];
for (const mode of options.modes) results.push(await benchMode(mode, options));
console.log(
  formatTable(
    ['mode', 'bus events', 'seconds', 'events/s', `seeding ${options.events} (s)`],
    results.map(({ ingestion, seedSeconds }) => [
      ingestion.mode,
      String(ingestion.events),
      ingestion.seconds.toFixed(2),
      String(ingestion.eventsPerSecond),
      seedSeconds.toFixed(1),
    ]),
  ),
);
console.log();
console.log(
  formatTable(
    ['query', 'mode', 'events', 'p50 ms', 'p95 ms'],
    results.flatMap(({ latencies: figures }) =>
      figures.map((figure) => [figure.query, figure.mode, String(figure.events), figure.p50Ms.toFixed(1), figure.p95Ms.toFixed(1)]),
    ),
  ),
);
if (options.json) await writeFile(options.json, JSON.stringify({ machine: machineFacts(), results }, null, 2));
process.exit(0);
