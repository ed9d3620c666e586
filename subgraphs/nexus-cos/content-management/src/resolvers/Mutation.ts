import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createContent: (_parent, { input }, { em, identity, services }) => services.contents.create(em, identity, input),
  updateContentMetadata: (_parent, { id, input }, { em, identity, services }) => services.contents.updateMetadata(em, identity, id, input),
  submitContentForReview: (_parent, { id }, { em, identity, services }) => services.contents.submit(em, identity, id),
  approveContent: (_parent, { id }, { em, identity, services }) => services.contents.approve(em, identity, id),
  rejectContent: (_parent, { id, reason }, { em, identity, services }) => services.contents.reject(em, identity, id, reason),
  publishContent: (_parent, { id, rightsWindows }, { em, identity, services }) =>
    services.contents.publish(em, identity, id, rightsWindows),
  archiveContent: (_parent, { id }, { em, identity, services }) => services.contents.archive(em, identity, id),
  addRightsWindow: (_parent, { contentId, input }, { em, identity, services }) =>
    services.contents.addRightsWindow(em, identity, contentId, input),
  removeRightsWindow: (_parent, { contentId, windowId }, { em, identity, services }) =>
    services.contents.removeRightsWindow(em, identity, contentId, windowId),
};
