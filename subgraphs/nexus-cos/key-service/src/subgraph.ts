import { defineSubgraph, OutboxEvent } from '@nexusflow/kit';
import { loadKeyServiceConfig } from './config.ts';
import { KeyAuditEvent } from './entities/key-audit-event.entity.ts';
import { TenantKeyVersion } from './entities/tenant-key-version.entity.ts';
import { TenantKey } from './entities/tenant-key.entity.ts';
import { WrappedSecret } from './entities/wrapped-secret.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createKeyServiceServices, startKeyMaintenance } from './services.ts';

export const entities = [TenantKey, TenantKeyVersion, WrappedSecret, KeyAuditEvent, OutboxEvent];

export const subgraph = defineSubgraph({
  name: 'key-service',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadKeyServiceConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createKeyServiceServices,
  background: startKeyMaintenance,
});
