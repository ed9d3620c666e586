import { defineSubgraph } from '@nexusflow/kit';
import { loadSchedulerConfig } from './config.ts';
import { ScheduledTask } from './entities/scheduled-task.entity.ts';
import { TaskRun } from './entities/task-run.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createSchedulerServices, startTicking } from './services.ts';

export const entities = [ScheduledTask, TaskRun];

export const subgraph = defineSubgraph({
  name: 'scheduler',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadSchedulerConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createSchedulerServices,
  background: (_runtime, services, config) => startTicking(config, services),
});
