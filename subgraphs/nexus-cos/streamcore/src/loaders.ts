import DataLoader from 'dataloader';
import { groupByKeys, orderByKeys, type EntityManager } from '@nexusflow/kit';
import { MediaAsset } from './entities/media-asset.entity.ts';
import { Rendition } from './entities/rendition.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return {
    assetByContentId: new DataLoader<string, MediaAsset | null>(async (contentIds) =>
      orderByKeys(contentIds, await em.find(MediaAsset, { contentId: { $in: [...contentIds] } }), (asset) => asset.contentId),
    ),
    /** Highest bandwidth first, as players list a ladder. */
    renditionsByContentId: new DataLoader<string, Rendition[]>(async (contentIds) => {
      const renditions = await em.find(
        Rendition,
        { contentId: { $in: [...contentIds] } },
        { orderBy: { bandwidth: 'desc', label: 'asc' } },
      );
      return groupByKeys(contentIds, renditions, (rendition) => rendition.contentId);
    }),
  };
}

export type StreamcoreLoaders = ReturnType<typeof createLoaders>;
