import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const ledgerMgrEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'ledger-mgr')),
});

export function loadLedgerMgrConfig(env?: Environment) {
  return loadSubgraphConfig('ledger-mgr', ledgerMgrEnvSchema, env, (parsed) => ({
    /** billing-service, whose settled payments, refunds and fees the reconciliation compares with the ledger. */
    billingServiceUrl: parsed.BILLING_SERVICE_URL,
  }));
}

export type LedgerMgrConfig = ReturnType<typeof loadLedgerMgrConfig>;
