import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const billingServiceEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'billing-service')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadBillingServiceConfig(env?: Environment) {
  return loadSubgraphConfig('billing-service', billingServiceEnvSchema, env, () => ({}));
}

export type BillingServiceConfig = ReturnType<typeof loadBillingServiceConfig>;
