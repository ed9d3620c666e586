import type { ApiKeyResolvers } from '../__generated__/resolvers-types.ts';

export const ApiKey: ApiKeyResolvers = {
  // Scoped to the caller's tenant, like the key: null once its creator is gone.
  createdBy: (apiKey, _args, { loaders }) => loaders.memberByUserId.load(apiKey.createdBy),
};
