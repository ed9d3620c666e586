import type { SubgraphRuntime } from '@nexusflow/kit';
import type { LedgerMgrConfig } from './config.ts';
import { Ledger } from './domain/ledger.ts';
import { Reconciliation } from './domain/reconciliation.ts';

export function createServices(runtime: SubgraphRuntime, config: LedgerMgrConfig) {
  return {
    ledger: new Ledger(runtime.clock),
    reconciliation: new Reconciliation(config.billingServiceUrl, config.subgraph.internalSecret),
  };
}
