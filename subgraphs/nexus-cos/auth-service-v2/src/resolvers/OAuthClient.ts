import { isUuid } from '@nexusflow/kit';
import type { OAuthClientResolvers } from '../__generated__/resolvers-types.ts';

export const OAuthClient: OAuthClientResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.oauthClientById.load(id) : null),
};
