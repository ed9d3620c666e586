import type { RenditionResolvers } from '../__generated__/resolvers-types.ts';

export const Rendition: RenditionResolvers = {
  segmentDurationSeconds: (rendition) => rendition.segmentDurationMs / 1000,
};
