import { defineSubgraph } from '@nexusflow/kit';
import { loadSchedulerConfig } from './config.ts';
import { ScheduledTaskService } from './domain/scheduled-task-service.ts';
import { ScheduledTask } from './entities/scheduled-task.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [ScheduledTask];

export const subgraph = defineSubgraph({
  name: 'scheduler',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadSchedulerConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ scheduledTasks: new ScheduledTaskService() }),
});
