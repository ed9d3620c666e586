import { join } from 'node:path';
import { z } from 'zod';
import {
  createLogger,
  defaultLogFormat,
  logFormatSchema,
  logLevelSchema,
  nodeEnvSchema,
  parseConfig,
  runMain,
  serveEmbeddedDatabase,
  SharedEmbeddedPostgres,
  type Environment,
  type RunningSubgraph,
} from '@nexusflow/kit';

/**
 * Hosts every subgraph in one process for the embedded topology (`npm start`). The embedded stand-ins
 * for RabbitMQ (the work queue and the event bus) live in memory, so they connect only the services of
 * one process: hosted together, a failed run in workflows still reaches notifications as an event,
 * exactly as through RabbitMQ. Each subgraph keeps its own port and configuration, and its own database: with
 * EMBEDDED_DATABASE_DIR, a database of one embedded PostgreSQL the host shares between them (a schema and role each, see
 * packages/kit/src/storage/shared-embedded-postgres.ts) instead of a PGlite each, which cost some 200 MB and an initdb
 * apiece.
 */
const hostEnvSchema = z.object({
  /**
   * JSON: `[{ "graph": "nexusflow", "name": "auth", "database": "nexusflow_auth", "tier": 0, "env": { "PORT": "3001", … } }, …]`,
   * written by the launcher in the deployment order. Subgraphs of one tier start together, each tier once the one
   * before has started; without tiers, one by one.
   */
  EMBEDDED_SUBGRAPHS: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .array(
          z.object({
            graph: z.string().regex(/^[a-z][a-z0-9-]*$/),
            name: z.string().regex(/^[a-z][a-z0-9-]*$/),
            /** Its database's name on the shared embedded server. */
            database: z
              .string()
              .regex(/^[a-z_][a-z0-9_]*$/)
              .optional(),
            tier: z.number().int().nonnegative().optional(),
            /** Hosted subgraphs of its graph that it calls: of those in its tier, it starts after them (it may call one while starting). */
            calls: z.array(z.string()).default([]),
            env: z.record(z.string(), z.string()),
          }),
        )
        .min(1),
    ),
  /** The folder of the embedded PostgreSQL the subgraphs share; unset: each opens a PGlite of its own, as when alone. */
  EMBEDDED_DATABASE_DIR: z.string().min(1).optional(),
  DATA_DIR: z.string().default('.data'),
  LOG_LEVEL: logLevelSchema,
  LOG_FORMAT: logFormatSchema.optional(),
  NODE_ENV: nodeEnvSchema,
});

/** What the host needs of a subgraph module's `subgraph` (see defineSubgraph). */
interface HostedSubgraph {
  start(env: Environment): Promise<RunningSubgraph<unknown>>;
}

await runMain(async () => {
  const config = parseConfig(hostEnvSchema);
  const logger = createLogger({
    name: 'embedded-host',
    level: config.LOG_LEVEL,
    format: config.LOG_FORMAT ?? defaultLogFormat(config.NODE_ENV),
  });
  const startedAt = performance.now();
  const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;
  /** What a phase took: wall-clock seconds since the host started, and the CPU seconds the process used (every thread). */
  const took = () => {
    const { user, system } = process.cpuUsage();
    return { seconds: seconds(startedAt), cpuSeconds: Math.round((user + system) / 100_000) / 10 };
  };
  const subgraphs = config.EMBEDDED_SUBGRAPHS;
  let database: SharedEmbeddedPostgres | undefined;
  const running: RunningSubgraph<unknown>[] = [];
  const closeAll = async () => {
    for (const subgraph of running.reverse()) await subgraph.close();
    await database?.close();
  };
  try {
    // Every module loads (tsx transpiles them on its loader thread) while the database boots on this one.
    const modules = subgraphs.map(
      ({ graph, name }) => import(`../subgraphs/${graph}/${name}/src/subgraph.ts`) as Promise<{ subgraph: HostedSubgraph }>,
    );
    // Nothing is left unhandled while the database boots: a module that fails to load fails the start below.
    for (const loading of modules) loading.catch(() => undefined);
    Promise.all(modules).then(
      () => logger.info(took(), 'subgraph modules loaded'),
      () => undefined,
    );
    if (config.EMBEDDED_DATABASE_DIR) {
      database = await SharedEmbeddedPostgres.start({ directory: config.EMBEDDED_DATABASE_DIR, holder: 'the embedded subgraphs host' });
      for (const { graph, name, database: databaseName, env } of subgraphs) {
        serveEmbeddedDatabase(
          join(env.DATA_DIR ?? config.DATA_DIR, name),
          database,
          databaseName ?? `${graph}_${name}`.replaceAll('-', '_'),
        );
      }
      logger.info(took(), 'shared embedded database ready');
    }
    await Promise.all(modules);
    const tierOf = (index: number) => subgraphs[index]!.tier ?? index;
    const starts = new Map<number, Promise<void>>();
    /**
     * Starts a subgraph once the subgraphs of its tier that it calls have started, a cycle of calls broken where it
     * closes (`waitingOn`): within a tier no order is promised, and a service may call another as it starts.
     */
    const startInOrder = (index: number, waitingOn: ReadonlySet<number>): Promise<void> => {
      const existing = starts.get(index);
      if (existing) return existing;
      const hosted = subgraphs[index]!;
      const callees = hosted.calls
        .map((name) => subgraphs.findIndex((candidate) => candidate.graph === hosted.graph && candidate.name === name))
        .filter((callee) => callee >= 0 && tierOf(callee) === tierOf(index) && !waitingOn.has(callee));
      const start = (async () => {
        await Promise.all(callees.map((callee) => startInOrder(callee, new Set([...waitingOn, index]))));
        // Each subgraph sees the host's environment with its own settings on top, as if it had a process of its own.
        running.push(await (await modules[index]!).subgraph.start({ ...process.env, ...hosted.env }));
      })();
      starts.set(index, start);
      return start;
    };
    for (const tier of [...new Set(subgraphs.map((_, index) => tierOf(index)))].sort((a, b) => a - b)) {
      const started = await Promise.allSettled(
        subgraphs.flatMap((_, index) => (tierOf(index) === tier ? [startInOrder(index, new Set())] : [])),
      );
      const failed = started.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    }
    logger.info({ ...took(), subgraphs: running.length }, 'every subgraph started');
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { close: closeAll };
});
