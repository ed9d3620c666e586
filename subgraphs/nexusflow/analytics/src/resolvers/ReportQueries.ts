import type { QueryResolvers } from '../__generated__/resolvers-types.ts';

/** The root fields of saved reports and background exports. */
export const ReportQueries: Pick<QueryResolvers, 'reports' | 'report' | 'runReport' | 'analyticsExportJob' | 'analyticsExportJobs'> = {
  reports: (_parent, _args, { em, identity, services }) => services.reports.list(em, identity),
  report: (_parent, { id }, { em, identity, services }) => services.reports.get(em, identity, id),
  runReport: (_parent, { id }, { em, identity, services }) => services.reports.runNow(em, identity, id),
  analyticsExportJob: (_parent, { id }, { em, identity, services }) => services.exportJobs.get(em, identity, id),
  analyticsExportJobs: (_parent, { first }, { em, identity, services }) => services.exportJobs.list(em, identity, first ?? 20),
};
