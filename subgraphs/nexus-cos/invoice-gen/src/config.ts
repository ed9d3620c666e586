import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const invoiceGenEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'invoice-gen')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadInvoiceGenConfig(env?: Environment) {
  return loadSubgraphConfig('invoice-gen', invoiceGenEnvSchema, env, () => ({}));
}

export type InvoiceGenConfig = ReturnType<typeof loadInvoiceGenConfig>;
