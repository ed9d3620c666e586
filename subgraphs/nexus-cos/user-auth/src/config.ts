import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const userAuthEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'user-auth')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadUserAuthConfig(env?: Environment) {
  return loadSubgraphConfig('user-auth', userAuthEnvSchema, env, () => ({}));
}

export type UserAuthConfig = ReturnType<typeof loadUserAuthConfig>;
