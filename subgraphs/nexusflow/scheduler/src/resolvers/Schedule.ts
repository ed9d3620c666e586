import { isUuid } from '@nexusflow/kit';
import type { ScheduleResolvers } from '../__generated__/resolvers-types.ts';
import { upcomingOccurrences } from '@nexusflow/kit';
import { recurrenceOf } from '../domain/schedule-service.ts';

export const Schedule: ScheduleResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.scheduleById.load(id) : null),
  workflow: (schedule) => ({ id: schedule.workflowId }),
  upcomingRuns: (schedule, { count }) => {
    if (!schedule.nextRunAt) return [];
    const size = Math.min(Math.max(count ?? 5, 0), 50);
    if (size === 0) return [];
    return [schedule.nextRunAt, ...upcomingOccurrences(recurrenceOf(schedule), schedule.nextRunAt, size - 1)];
  },
  runs: (schedule, { last }, { loaders }) => loaders.recentRuns.load(`${schedule.id}|${Math.min(Math.max(last ?? 20, 0), 100)}`),
};
