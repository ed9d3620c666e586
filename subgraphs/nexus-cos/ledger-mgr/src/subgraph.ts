import { defineSubgraph } from '@nexusflow/kit';
import { loadLedgerMgrConfig } from './config.ts';
import { JournalEntry } from './entities/journal-entry.entity.ts';
import { JournalLine } from './entities/journal-line.entity.ts';
import { LedgerAccount } from './entities/ledger-account.entity.ts';
import { createServices } from './services.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [LedgerAccount, JournalEntry, JournalLine];

export const subgraph = defineSubgraph({
  name: 'ledger-mgr',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadLedgerMgrConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices,
});
