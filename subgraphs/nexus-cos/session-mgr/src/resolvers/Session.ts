import { isUuid } from '@nexusflow/kit';
import type { SessionResolvers } from '../__generated__/resolvers-types.ts';

export const Session: SessionResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.sessionById.load(id) : null),
  current: (session, _args, { identity }) => identity.kind === 'user' && identity.sessionId === session.id,
};
