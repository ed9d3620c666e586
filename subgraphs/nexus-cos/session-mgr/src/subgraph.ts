import { defineSubgraph } from '@nexusflow/kit';
import { loadSessionMgrConfig } from './config.ts';
import { Session } from './entities/session.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { closeSessionStore, createSessionMgrServices } from './services.ts';

export const entities = [Session];

export const subgraph = defineSubgraph({
  name: 'session-mgr',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadSessionMgrConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createSessionMgrServices,
  background: closeSessionStore,
});
