import type { SessionResolvers } from '../__generated__/resolvers-types.ts';

export const Session: SessionResolvers = {
  device: (session) => session.userAgent ?? null,
  ipAddress: (session) => session.clientAddress ?? null,
  current: (session, _args, { identity }) => identity.kind === 'user' && identity.sessionId === session.id,
};
