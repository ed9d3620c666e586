import { defineSubgraph } from '@nexusflow/kit';
import { loadStreamcoreConfig } from './config.ts';
import { MediaAsset } from './entities/media-asset.entity.ts';
import { PlaybackSession } from './entities/playback-session.entity.ts';
import { Rendition } from './entities/rendition.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createStreamcoreServices, startPlaybackSweep, streamcoreRoutes } from './services.ts';

export const entities = [MediaAsset, Rendition, PlaybackSession];

export const subgraph = defineSubgraph({
  name: 'streamcore',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadStreamcoreConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createStreamcoreServices,
  background: startPlaybackSweep,
  routes: streamcoreRoutes,
});
