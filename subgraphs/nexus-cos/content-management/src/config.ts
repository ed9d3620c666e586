import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const contentManagementEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'content-management')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadContentManagementConfig(env?: Environment) {
  return loadSubgraphConfig('content-management', contentManagementEnvSchema, env, () => ({}));
}

export type ContentManagementConfig = ReturnType<typeof loadContentManagementConfig>;
