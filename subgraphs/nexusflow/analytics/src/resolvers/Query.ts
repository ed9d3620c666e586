import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

export const Query: QueryResolvers = {
  analyticsEvents: (_parent, { from, to, type, first }, { em, identity, services }) =>
    services.events.list(em, identity, from, to, type ?? null, first ?? 20),
  usageMetrics: (_parent, { from, to }, { em, identity, services }) => services.usage.usage(em, identity, from, to),
  dashboard: (_parent, { metric, bucket, from, to }, { em, identity, services }) =>
    services.usage.dashboard(em, identity, metric, bucket, from, to),
  cohorts: (_parent, { from, to }, { em, identity, services }) => services.cohorts.cohorts(em, identity, from, to),
  analyticsExport: (_parent, { from, to }, { em, identity, services }) => services.exports.describe(em, identity, from, to),
};
