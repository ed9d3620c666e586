import type { AnalyticsExportJobResolvers } from '../__generated__/resolvers-types.ts';

export const AnalyticsExportJob: AnalyticsExportJobResolvers = {
  from: (job) => job.periodFrom,
  to: (job) => job.periodTo,
  downloadUrl: (job, _args, { services }) => services.exportJobs.downloadUrlOf(job),
};
