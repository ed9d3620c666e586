import { defineSubgraph } from '@nexusflow/kit';
import { loadAuthServiceConfig } from './config.ts';
import { LoginAttemptService } from './domain/login-attempt-service.ts';
import { LoginAttempt } from './entities/login-attempt.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [LoginAttempt];

export const subgraph = defineSubgraph({
  name: 'auth-service',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAuthServiceConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ loginAttempts: new LoginAttemptService() }),
});
