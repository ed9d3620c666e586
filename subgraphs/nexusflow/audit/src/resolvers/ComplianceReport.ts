import type { ComplianceReportResolvers } from '../__generated__/resolvers-types.ts';

const MAX_LISTED = 100;

export const ComplianceReport: ComplianceReportResolvers = {
  totalEntries: (report, _args, { em, services }) => services.log.reportSize(em, report),
  entries: (report, { first }, { em, services }) =>
    services.log.reportEntries(em, report, Math.min(Math.max(first ?? 20, 0), MAX_LISTED), 0, true),
  csvUrl: (report, _args, { services }) => services.exportLinks.linkTo(report, 'csv'),
  jsonLinesUrl: (report, _args, { services }) => services.exportLinks.linkTo(report, 'jsonl'),
};
