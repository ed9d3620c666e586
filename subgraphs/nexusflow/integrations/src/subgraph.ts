import { defineSubgraph, OutboxEvent } from '@nexusflow/kit';
import { loadIntegrationsConfig } from './config.ts';
import { IntegrationAuthorization } from './entities/integration-authorization.entity.ts';
import { Integration } from './entities/integration.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createIntegrationServices, startIntegrationWork } from './services.ts';

export const entities = [Integration, IntegrationAuthorization, OutboxEvent];

export const subgraph = defineSubgraph({
  name: 'integrations',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadIntegrationsConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createIntegrationServices,
  background: startIntegrationWork,
});
