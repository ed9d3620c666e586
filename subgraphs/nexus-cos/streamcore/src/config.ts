import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const streamcoreEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'streamcore')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadStreamcoreConfig(env?: Environment) {
  return loadSubgraphConfig('streamcore', streamcoreEnvSchema, env, () => ({}));
}

export type StreamcoreConfig = ReturnType<typeof loadStreamcoreConfig>;
