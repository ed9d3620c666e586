import type { PromptTemplateResolvers } from '../__generated__/resolvers-types.ts';

export const PromptTemplate: PromptTemplateResolvers = {
  versions: ({ name }, _args, { loaders }) => loaders.promptVersionsByName.load(name),
};
