import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const keyServiceEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'key-service')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadKeyServiceConfig(env?: Environment) {
  return loadSubgraphConfig('key-service', keyServiceEnvSchema, env, () => ({}));
}

export type KeyServiceConfig = ReturnType<typeof loadKeyServiceConfig>;
