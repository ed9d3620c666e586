import type { SubgraphContext } from '@nexusflow/kit';
import type { TaskEngine } from './domain/task-engine.ts';
import type { TaskService } from './domain/task-service.ts';
import type { SchedulerLoaders } from './loaders.ts';

export interface SchedulerServices {
  tasks: TaskService;
  /** Fires due tasks and delivers their runs; `tick()` makes one pass now. */
  engine: TaskEngine;
}

export type SchedulerContext = SubgraphContext<SchedulerLoaders, SchedulerServices>;
