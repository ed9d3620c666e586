import DataLoader from 'dataloader';
import { groupByKeys, orderByKeys, type EntityManager } from '@nexusflow/kit';
import { MediaAsset } from './entities/media-asset.entity.ts';
import { Rendition } from './entities/rendition.entity.ts';
import type { ViewCounts } from './domain/view-counts.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  let viewers: DataLoader<string, number> | undefined;
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
    /**
     * Live viewers of each content, one grouped count for all the contents of a request. `viewCounts` (a service)
     * brings the clock that says which sessions are live; the loader is made on first use and kept for the request.
     */
    viewersByContentId(viewCounts: ViewCounts): DataLoader<string, number> {
      viewers ??= new DataLoader<string, number>(async (contentIds) => {
        const counts = await viewCounts.countByContent(em, contentIds);
        return contentIds.map((id) => counts.get(id) ?? 0);
      });
      return viewers;
    },
  };
}

export type StreamcoreLoaders = ReturnType<typeof createLoaders>;
