import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  complete: (_parent, { input }, { em, identity, services }) => services.features.complete(em, identity, input),
  embed: (_parent, { texts }, { identity, services }) => services.documents.embed(identity, texts),
  indexDocument: (_parent, { input }, { em, identity, services }) => services.documents.indexDocument(em, identity, input),
  removeDocument: (_parent, { id }, { em, identity, services }) => services.documents.removeDocument(em, identity, id),
  savePromptTemplate: (_parent, { input }, { em, identity, services }) => services.prompts.save(em, identity, input),
  summarize: (_parent, args, { em, identity, services }) => services.features.summarize(em, identity, args),
  classify: (_parent, args, { em, identity, services }) => services.features.classify(em, identity, args),
  extract: (_parent, args, { em, identity, services }) => services.features.extract(em, identity, args),
  analyzeSentiment: (_parent, args, { em, identity, services }) => services.features.analyzeSentiment(em, identity, args),
  generateEmail: (_parent, args, { em, identity, services }) => services.features.generateEmail(em, identity, args),
  suggestWorkflowSteps: (_parent, { goal }, { em, identity, services }) => services.suggestions.suggest(em, identity, goal),
};
