import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const sessionMgrEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'session-mgr')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadSessionMgrConfig(env?: Environment) {
  return loadSubgraphConfig('session-mgr', sessionMgrEnvSchema, env, () => ({}));
}

export type SessionMgrConfig = ReturnType<typeof loadSessionMgrConfig>;
