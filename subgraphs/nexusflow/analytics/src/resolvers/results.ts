import type { Resolvers } from '../__generated__/resolvers-types.ts';
import type { ReportProblem } from '../domain/reports.ts';
import { Report } from '../entities/report.entity.ts';

const isProblem = (result: object): result is ReportProblem => 'kind' in result && !(result instanceof Report);

/** Which member of each result union an answer is: a domain object, or a problem (`InvalidAnalyticsInput`, `ReportNotFound`). */
export const resultTypes: Resolvers = {
  CreateReportResult: { __resolveType: (result) => (isProblem(result) ? 'InvalidAnalyticsInput' : 'Report') },
  UpdateReportResult: {
    __resolveType: (result) => (isProblem(result) ? (result.kind === 'invalid' ? 'InvalidAnalyticsInput' : 'ReportNotFound') : 'Report'),
  },
  DeleteReportResult: { __resolveType: (result) => (isProblem(result) ? 'ReportNotFound' : 'DeleteReportPayload') },
  RunReportResult: { __resolveType: (result) => (isProblem(result) ? 'ReportNotFound' : 'ReportRun') },
  StartAnalyticsExportResult: { __resolveType: (result) => (isProblem(result) ? 'InvalidAnalyticsInput' : 'AnalyticsExportJob') },
};
