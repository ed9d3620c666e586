import type { SubgraphContext } from '@nexusflow/kit';
import type { LedgerAccountService } from './domain/ledger-account-service.ts';
import type { LedgerMgrLoaders } from './loaders.ts';

export interface LedgerMgrServices {
  ledgerAccounts: LedgerAccountService;
}

export type LedgerMgrContext = SubgraphContext<LedgerMgrLoaders, LedgerMgrServices>;
