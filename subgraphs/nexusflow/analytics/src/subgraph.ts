import { defineSubgraph } from '@nexusflow/kit';
import { loadAnalyticsConfig } from './config.ts';
import { AnalyticsEvent } from './entities/analytics-event.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createAnalyticsServices, startAnalyticsWork } from './services.ts';

export const entities = [AnalyticsEvent];

export const subgraph = defineSubgraph({
  name: 'analytics',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAnalyticsConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createAnalyticsServices,
  background: startAnalyticsWork,
  routes: (services) => [services.exportRoute],
});
