import type { SubgraphContext } from '@nexusflow/kit';
import type { ScheduleService } from './domain/schedule-service.ts';
import type { ScheduleTicker } from './domain/ticker.ts';
import type { SchedulerLoaders } from './loaders.ts';

export interface SchedulerServices {
  schedules: ScheduleService;
  ticker: ScheduleTicker;
}

export type SchedulerContext = SubgraphContext<SchedulerLoaders, SchedulerServices>;
