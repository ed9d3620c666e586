import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  models: (_parent, _args, { identity, services }) => services.models.list(identity),
  aiUsage: (_parent, { first }, { em, identity, services }) => services.models.usage(em, identity, first ?? 50),
  promptTemplates: (_parent, _args, { em, identity, services }) => services.prompts.list(em, identity),
  search: (_parent, { query, topK, filter }, { identity, loaders, services }) =>
    services.documents.search(loaders.documentById, identity, { query, topK: topK ?? 5, filter }),
};
