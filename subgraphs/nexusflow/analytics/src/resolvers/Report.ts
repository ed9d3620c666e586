import type { ReportResolvers, ReportScheduleResolvers } from '../__generated__/resolvers-types.ts';

export const Report: ReportResolvers = {
  schedule: (report) => (report.nextRunAt ? report : null),
};

/** A schedule is its report's schedule columns, set together. */
export const ReportSchedule: ReportScheduleResolvers = {
  cron: (report) => report.scheduleCron!,
  timeZone: (report) => report.scheduleTimeZone!,
  recipientUserIds: (report) => report.recipientUserIds,
  nextRunAt: (report) => report.nextRunAt!,
};
