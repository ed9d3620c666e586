import { defineSubgraph } from '@nexusflow/kit';
import { loadAuthServiceConfig } from './config.ts';
import { SignIn } from './entities/sign-in.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { closeRateLimiter, createAuthServiceServices } from './services.ts';

export const entities = [SignIn];

export const subgraph = defineSubgraph({
  name: 'auth-service',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAuthServiceConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createAuthServiceServices,
  background: closeRateLimiter,
});
