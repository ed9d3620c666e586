import type { ScheduleRunResolvers } from '../__generated__/resolvers-types.ts';

export const ScheduleRun: ScheduleRunResolvers = {
  execution: (run) => (run.executionId ? { id: run.executionId } : null),
  error: (run) => run.error ?? null,
};
