import DataLoader from 'dataloader';
import { groupByKeys, loaderById, type EntityManager } from '@nexusflow/kit';
import { ContentVersion } from './entities/content-version.entity.ts';
import { Content } from './entities/content.entity.ts';
import { RightsWindow } from './entities/rights-window.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return {
    contentById: loaderById(em, Content),
    /** Every version of each content, newest first: one statement for a whole list of contents. */
    versionsByContent: new DataLoader<string, ContentVersion[]>(async (contentIds) => {
      const versions = await em.find(ContentVersion, { contentId: { $in: [...contentIds] } }, { orderBy: { number: 'desc' } });
      return groupByKeys(contentIds, versions, (version) => version.contentId);
    }),
    rightsWindowsByContent: new DataLoader<string, RightsWindow[]>(async (contentIds) => {
      const windows = await em.find(RightsWindow, { contentId: { $in: [...contentIds] } }, { orderBy: { startsAt: 'asc', id: 'asc' } });
      return groupByKeys(contentIds, windows, (window) => window.contentId);
    }),
  };
}

export type ContentManagementLoaders = ReturnType<typeof createLoaders>;
