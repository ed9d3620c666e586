import type { SubgraphContext } from '@nexusflow/kit';
import type { StreamAssetService } from './domain/stream-asset-service.ts';
import type { StreamcoreLoaders } from './loaders.ts';

export interface StreamcoreServices {
  streamAssets: StreamAssetService;
}

export type StreamcoreContext = SubgraphContext<StreamcoreLoaders, StreamcoreServices>;
