import type { SubgraphContext } from '@nexusflow/kit';
import type { ScheduledTaskService } from './domain/scheduled-task-service.ts';
import type { SchedulerLoaders } from './loaders.ts';

export interface SchedulerServices {
  scheduledTasks: ScheduledTaskService;
}

export type SchedulerContext = SubgraphContext<SchedulerLoaders, SchedulerServices>;
