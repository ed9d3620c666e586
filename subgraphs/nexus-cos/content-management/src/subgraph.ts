import { defineSubgraph } from '@nexusflow/kit';
import { loadContentManagementConfig } from './config.ts';
import { ContentService } from './domain/content-service.ts';
import { Content } from './entities/content.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [Content];

export const subgraph = defineSubgraph({
  name: 'content-management',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadContentManagementConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ contents: new ContentService() }),
});
