import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createReport: (_parent, { input }, { em, identity, services }) => services.reports.create(em, identity, input),
  updateReport: (_parent, { id, input }, { em, identity, services }) => services.reports.update(em, identity, id, input),
  deleteReport: (_parent, { id }, { em, identity, services }) => services.reports.delete(em, identity, id),
  startAnalyticsExport: (_parent, { from, to, format }, { em, identity, services }) =>
    services.exportJobs.start(em, identity, from, to, format),
};
