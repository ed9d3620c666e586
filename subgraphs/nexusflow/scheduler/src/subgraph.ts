import { loadTypeDefs, type SubgraphDefinition } from '@nexusflow/kit';
import type { SchedulerConfig } from './config.ts';
import type { SchedulerServices } from './context.ts';
import { ScheduleRun } from './entities/schedule-run.entity.ts';
import { Schedule } from './entities/schedule.entity.ts';
import { createLoaders, type SchedulerLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createSchedulerServices, startTicking } from './services.ts';

export const typeDefs = loadTypeDefs(new URL('../schema.graphql', import.meta.url));
export const entities = [Schedule, ScheduleRun];

/** @param now a controllable clock for tests; the wall clock otherwise. */
export function schedulerSubgraph(config: SchedulerConfig, now?: () => Date): SubgraphDefinition<SchedulerLoaders, SchedulerServices> {
  return {
    typeDefs,
    resolvers: resolvers as SubgraphDefinition<SchedulerLoaders, SchedulerServices>['resolvers'],
    entities,
    migrations,
    createLoaders,
    createServices: (runtime) => createSchedulerServices(config, runtime, now),
    background: (_runtime, services) => startTicking(config, services),
  };
}
