import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const authServiceV2EnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'auth-service-v2')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadAuthServiceV2Config(env?: Environment) {
  return loadSubgraphConfig('auth-service-v2', authServiceV2EnvSchema, env, () => ({}));
}

export type AuthServiceV2Config = ReturnType<typeof loadAuthServiceV2Config>;
