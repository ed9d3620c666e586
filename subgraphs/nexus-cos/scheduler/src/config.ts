import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const schedulerEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'scheduler')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadSchedulerConfig(env?: Environment) {
  return loadSubgraphConfig('scheduler', schedulerEnvSchema, env, () => ({}));
}

export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;
