import { isUuid } from '@nexusflow/kit';
import type { ContentResolvers } from '../__generated__/resolvers-types.ts';

/** streamcore knows a content once its renditions are registered, in the tenant that registered them. */
export const Content: ContentResolvers = {
  __resolveReference: async ({ id }, { loaders }) => (isUuid(id) && (await loaders.assetByContentId.load(id)) ? { id } : null),
  renditions: async ({ id }, _args, { loaders }) =>
    (await loaders.assetByContentId.load(id)) ? loaders.renditionsByContentId.load(id) : null,
  viewCount: async ({ id }, _args, { loaders, services }) =>
    (await loaders.assetByContentId.load(id)) ? loaders.viewersByContentId(services.viewCounts).load(id) : null,
};
