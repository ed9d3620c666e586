import { booleanFlagSchema, parseConfig, subgraphEnv, toSubgraphConfig, type Environment } from '@nexusflow/kit';
import { z } from 'zod';

export const SCHEDULER_DEFAULT_PORT = 3009;

const schedulerEnvSchema = z.object({
  ...subgraphEnv(SCHEDULER_DEFAULT_PORT),
  WORKFLOWS_URL: z.url().default('http://127.0.0.1:3002/graphql'),
  RUN_TICKER: booleanFlagSchema.default(true),
  TICK_INTERVAL_MS: z.coerce.number().int().min(50).default(1000),
  MISFIRE_GRACE_MS: z.coerce.number().int().min(0).default(60_000),
});

export function loadSchedulerConfig(env?: Environment) {
  const parsed = parseConfig(schedulerEnvSchema, env, { requiredInProduction: ['INTERNAL_SECRET'] });
  return {
    subgraph: toSubgraphConfig('scheduler', parsed),
    /** The workflows subgraph, which the scheduler asks to start runs. */
    workflowsUrl: parsed.WORKFLOWS_URL,
    runTicker: parsed.RUN_TICKER,
    tickIntervalMs: parsed.TICK_INTERVAL_MS,
    misfireGraceMs: parsed.MISFIRE_GRACE_MS,
  };
}

export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;
