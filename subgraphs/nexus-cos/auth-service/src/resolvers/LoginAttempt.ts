import { isUuid } from '@nexusflow/kit';
import type { LoginAttemptResolvers } from '../__generated__/resolvers-types.ts';

export const LoginAttempt: LoginAttemptResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.loginAttemptById.load(id) : null),
};
