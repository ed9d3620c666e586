import type { PlaybackSessionResolvers } from '../__generated__/resolvers-types.ts';

export const PlaybackSession: PlaybackSessionResolvers = {
  id: ({ session }) => session.id,
  content: ({ session }) => ({ id: session.contentId }),
  region: ({ session }) => session.region,
  startedAt: ({ session }) => session.createdAt,
  lastHeartbeatAt: ({ session }) => session.lastHeartbeatAt,
  expiresAt: ({ session }) => session.expiresAt,
  endedAt: ({ session }) => session.endedAt ?? null,
  urls: ({ urls }) => urls,
};
