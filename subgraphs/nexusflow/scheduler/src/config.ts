import { booleanFlagSchema, loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const schedulerEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'scheduler')),
  RUN_TICKER: booleanFlagSchema.default(true),
  TICK_INTERVAL_MS: z.coerce.number().int().min(50).default(1000),
  MISFIRE_GRACE_MS: z.coerce.number().int().min(0).default(60_000),
});

export function loadSchedulerConfig(env?: Environment) {
  return loadSubgraphConfig('scheduler', schedulerEnvSchema, env, (parsed) => ({
    /** The workflows subgraph, which the scheduler asks to start runs. */
    workflowsUrl: parsed.WORKFLOWS_URL,
    runTicker: parsed.RUN_TICKER,
    tickIntervalMs: parsed.TICK_INTERVAL_MS,
    misfireGraceMs: parsed.MISFIRE_GRACE_MS,
  }));
}

export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;
