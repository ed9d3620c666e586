import { isUuid } from '@nexusflow/kit';
import type { ScheduledTaskResolvers } from '../__generated__/resolvers-types.ts';
import { upcomingRunsOf } from '../domain/task-service.ts';

export const ScheduledTask: ScheduledTaskResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.scheduledTaskById.load(id) : null),
  upcomingRuns: (task, { count }) => upcomingRunsOf(task, count ?? 5),
  runs: (task, { last }, { loaders }) => loaders.recentRuns.load(`${task.id}|${Math.min(Math.max(last ?? 20, 0), 100)}`),
};
