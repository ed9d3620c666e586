import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  complete: (_parent, { input }, { identity, services }) => services.models.complete(identity, input),
  embed: (_parent, { texts }, { identity, services }) => services.documents.embed(identity, texts),
  indexDocument: (_parent, { input }, { em, identity, services }) => services.documents.indexDocument(em, identity, input),
  removeDocument: (_parent, { id }, { em, identity, services }) => services.documents.removeDocument(em, identity, id),
};
