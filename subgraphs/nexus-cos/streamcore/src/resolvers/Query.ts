import { requireUuid } from '@nexusflow/kit';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  streamAssets: (_parent, { first }, { em, services }) => services.streamAssets.list(em, first ?? 20),
  streamAsset: (_parent, { id }, { loaders }) => loaders.streamAssetById.load(requireUuid(id, 'id')),
};
