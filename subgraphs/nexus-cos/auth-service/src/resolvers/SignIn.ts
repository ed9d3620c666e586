import { isUuid } from '@nexusflow/kit';
import type { SignInResolvers } from '../__generated__/resolvers-types.ts';

export const SignIn: SignInResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.signInById.load(id) : null),
  user: (signIn) => ({ id: signIn.userId }),
};
