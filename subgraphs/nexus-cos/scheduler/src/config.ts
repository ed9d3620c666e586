import { booleanFlagSchema, loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { servicesOf, serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

/** The services a task may deliver to: every service of the nexus-cos graph but the scheduler itself. */
export const TASK_TARGETS: readonly string[] = servicesOf('nexus-cos')
  .map(({ name }) => name)
  .filter((name) => name !== 'scheduler');

const byName = new Map(servicesOf('nexus-cos').map((service) => [service.name, service]));

/** Deployments pass optional variables through empty when unset: empty reads as unset. */
const unsetWhenEmpty = (value: unknown) => (value === '' ? undefined : value);

/** `invoice-gen=http://invoice-gen:3021,ledger-mgr=http://ledger-mgr:3022`: the origin of some targets, by name. */
const targetUrlsSchema = z.preprocess(
  unsetWhenEmpty,
  z
    .string()
    .optional()
    .transform((value, context) => {
      const urls: Record<string, string> = {};
      for (const entry of (value ?? '')
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean)) {
        const [name, url] = [entry.slice(0, entry.indexOf('=')).trim(), entry.slice(entry.indexOf('=') + 1).trim()];
        if (!TASK_TARGETS.includes(name)) {
          context.addIssue({ code: 'custom', message: `"${name}" is not a nexus-cos service a task can target` });
        } else if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
          context.addIssue({ code: 'custom', message: `the URL of "${name}" is not an http(s) URL` });
        } else urls[name] = new URL(url).origin;
      }
      return urls;
    }),
);

const schedulerEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'scheduler')),
  /** Off in tests that tick by hand with their own clock. */
  RUN_TICKER: booleanFlagSchema.default(true),
  TICK_INTERVAL_MS: z.coerce.number().int().min(50).default(1000),
  MISFIRE_GRACE_MS: z.coerce.number().int().min(0).default(60_000),
  MAX_TASKS_PER_TENANT: z.coerce.number().int().min(1).default(100),
  /** Occurrences of a cron task closer than this are refused. */
  MIN_TASK_INTERVAL_SECONDS: z.coerce.number().int().min(60).default(60),
  RETRY_INITIAL_BACKOFF_MS: z.coerce.number().int().min(0).default(10_000),
  RETRY_MAX_BACKOFF_MS: z.coerce.number().int().min(0).default(3_600_000),
  RUN_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  /**
   * Where a target service listens, from its name and ports: `{service}`, `{port}` (its catalogue port, in its
   * container) and `{localPort}` (its port under `npm start`), e.g. `http://{service}:{port}` in docker-compose.
   */
  TASK_TARGET_URL_TEMPLATE: z.preprocess(unsetWhenEmpty, z.string().default('http://127.0.0.1:{localPort}')),
  /** What `npm start --port-offset` adds to every port, `{localPort}` included (the launcher sets it). */
  PORT_OFFSET: z.coerce.number().int().min(0).default(0),
  TASK_TARGET_URLS: targetUrlsSchema,
});

/** The origin of every target service: from TASK_TARGET_URLS, else from TASK_TARGET_URL_TEMPLATE. */
function targetOrigins(template: string, overrides: Record<string, string>, portOffset: number): Record<string, string> {
  return Object.fromEntries(
    TASK_TARGETS.map((name) => {
      const service = byName.get(name)!;
      const filled = template
        .replaceAll('{service}', name)
        .replaceAll('{port}', String(service.port))
        .replaceAll('{localPort}', String(service.localPort + portOffset));
      return [name, overrides[name] ?? new URL(filled).origin];
    }),
  );
}

export function loadSchedulerConfig(env?: Environment) {
  return loadSubgraphConfig('scheduler', schedulerEnvSchema, env, (parsed) => ({
    runTicker: parsed.RUN_TICKER,
    tickIntervalMs: parsed.TICK_INTERVAL_MS,
    misfireGraceMs: parsed.MISFIRE_GRACE_MS,
    limits: { maxTasksPerTenant: parsed.MAX_TASKS_PER_TENANT, minIntervalSeconds: parsed.MIN_TASK_INTERVAL_SECONDS },
    backoff: { initialMs: parsed.RETRY_INITIAL_BACKOFF_MS, maxMs: parsed.RETRY_MAX_BACKOFF_MS, factor: 2 },
    runRetentionMs: parsed.RUN_RETENTION_DAYS * 86_400_000,
    /** The allow-list of deliveries: a target's origin comes from here, never from a task. */
    targetOrigins: targetOrigins(parsed.TASK_TARGET_URL_TEMPLATE, parsed.TASK_TARGET_URLS, parsed.PORT_OFFSET),
  }));
}

export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;
