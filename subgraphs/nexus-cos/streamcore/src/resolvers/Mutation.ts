import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  registerRenditions: (_parent, { contentId, renditions }, { em, identity, services }) =>
    services.media.register(em, identity, contentId, renditions),
  startPlayback: (_parent, { input }, { em, identity, clientAddress, services }) =>
    services.playback.start(em, identity, input, clientAddress),
  heartbeatPlayback: (_parent, { sessionId }, { em, identity, clientAddress, services }) =>
    services.playback.heartbeat(em, identity, sessionId, clientAddress),
  stopPlayback: (_parent, { sessionId }, { em, identity, services }) => services.playback.stop(em, identity, sessionId),
};
