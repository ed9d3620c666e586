import { defineSubgraph } from '@nexusflow/kit';
import { loadStreamcoreConfig } from './config.ts';
import { StreamAssetService } from './domain/stream-asset-service.ts';
import { StreamAsset } from './entities/stream-asset.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [StreamAsset];

export const subgraph = defineSubgraph({
  name: 'streamcore',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadStreamcoreConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ streamAssets: new StreamAssetService() }),
});
