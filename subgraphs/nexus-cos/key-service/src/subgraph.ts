import { defineSubgraph } from '@nexusflow/kit';
import { loadKeyServiceConfig } from './config.ts';
import { TenantKeyService } from './domain/tenant-key-service.ts';
import { TenantKey } from './entities/tenant-key.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [TenantKey];

export const subgraph = defineSubgraph({
  name: 'key-service',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadKeyServiceConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ tenantKeys: new TenantKeyService() }),
});
