import { isUuid } from '@nexusflow/kit';
import type { StreamAssetResolvers } from '../__generated__/resolvers-types.ts';

export const StreamAsset: StreamAssetResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.streamAssetById.load(id) : null),
};
