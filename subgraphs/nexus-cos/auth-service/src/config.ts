import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const authServiceEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'auth-service')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadAuthServiceConfig(env?: Environment) {
  return loadSubgraphConfig('auth-service', authServiceEnvSchema, env, () => ({}));
}

export type AuthServiceConfig = ReturnType<typeof loadAuthServiceConfig>;
