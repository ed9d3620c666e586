import { defineSubgraph } from '@nexusflow/kit';
import { loadAuditConfig } from './config.ts';
import { AuditChainHead } from './entities/audit-chain-head.entity.ts';
import { AuditEntry } from './entities/audit-entry.entity.ts';
import { AuditSettings } from './entities/audit-settings.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createAuditServices, startAuditWork } from './services.ts';

export const entities = [AuditEntry, AuditChainHead, AuditSettings];

export const subgraph = defineSubgraph({
  name: 'audit',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAuditConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createAuditServices,
  background: startAuditWork,
  routes: (services) => [services.exportRoute],
});
