import { defineSubgraph, type SubgraphRuntime } from '@nexusflow/kit';
import { loadContentManagementConfig } from './config.ts';
import type { ContentManagementServices } from './context.ts';
import { ContentService } from './domain/content-service.ts';
import { ContentVersion } from './entities/content-version.entity.ts';
import { Content } from './entities/content.entity.ts';
import { RightsWindow } from './entities/rights-window.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [Content, ContentVersion, RightsWindow];

function createServices(runtime: SubgraphRuntime): ContentManagementServices {
  return { contents: new ContentService(() => new Date(runtime.clock())) };
}

export const subgraph = defineSubgraph({
  name: 'content-management',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadContentManagementConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices,
});
