import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  playbackSessions: (_parent, { first, includeEnded }, { em, identity, services }) =>
    services.playback.list(em, identity, first ?? 20, includeEnded ?? false),
};
