import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const ledgerMgrEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'ledger-mgr')),
});

/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */
export function loadLedgerMgrConfig(env?: Environment) {
  return loadSubgraphConfig('ledger-mgr', ledgerMgrEnvSchema, env, () => ({}));
}

export type LedgerMgrConfig = ReturnType<typeof loadLedgerMgrConfig>;
