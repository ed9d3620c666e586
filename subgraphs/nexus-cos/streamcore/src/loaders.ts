import { loaderById, type EntityManager } from '@nexusflow/kit';
import { StreamAsset } from './entities/stream-asset.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { streamAssetById: loaderById(em, StreamAsset) };
}

export type StreamcoreLoaders = ReturnType<typeof createLoaders>;
