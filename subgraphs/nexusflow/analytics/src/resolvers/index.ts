import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { AnalyticsEvent } from './AnalyticsEvent.ts';
import { AnalyticsExportJob } from './AnalyticsExportJob.ts';
import { Mutation } from './Mutation.ts';
import { operationUsageMutations, operationUsageQueries } from './operation-usage.ts';
import { Query } from './Query.ts';
import { Report, ReportSchedule } from './Report.ts';
import { ReportQueries } from './ReportQueries.ts';
import { resultTypes } from './results.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query: { ...Query, ...ReportQueries, ...operationUsageQueries },
  Mutation: { ...Mutation, ...operationUsageMutations },
  AnalyticsEvent,
  Report,
  ReportSchedule,
  AnalyticsExportJob,
  ...resultTypes,
};
