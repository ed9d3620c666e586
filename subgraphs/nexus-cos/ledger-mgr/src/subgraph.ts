import { defineSubgraph } from '@nexusflow/kit';
import { loadLedgerMgrConfig } from './config.ts';
import { LedgerAccountService } from './domain/ledger-account-service.ts';
import { LedgerAccount } from './entities/ledger-account.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [LedgerAccount];

export const subgraph = defineSubgraph({
  name: 'ledger-mgr',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadLedgerMgrConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ ledgerAccounts: new LedgerAccountService() }),
});
