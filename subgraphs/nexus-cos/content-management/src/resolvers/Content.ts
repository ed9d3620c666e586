import { isUuid } from '@nexusflow/kit';
import type { ContentResolvers } from '../__generated__/resolvers-types.ts';

export const Content: ContentResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.contentById.load(id) : null),
  currentVersion: async (content, _args, { loaders }) =>
    (await loaders.versionsByContent.load(content.id)).find((version) => version.number === content.currentVersionNumber)!,
  publishedVersion: async (content, _args, { loaders }) =>
    content.publishedVersionNumber === null
      ? null
      : ((await loaders.versionsByContent.load(content.id)).find((version) => version.number === content.publishedVersionNumber) ?? null),
  versions: (content, _args, { loaders }) => loaders.versionsByContent.load(content.id),
  rightsWindows: (content, _args, { loaders }) => loaders.rightsWindowsByContent.load(content.id),
};
