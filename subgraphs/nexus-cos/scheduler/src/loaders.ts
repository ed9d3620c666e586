import { loaderById, type EntityManager } from '@nexusflow/kit';
import { ScheduledTask } from './entities/scheduled-task.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { scheduledTaskById: loaderById(em, ScheduledTask) };
}

export type SchedulerLoaders = ReturnType<typeof createLoaders>;
