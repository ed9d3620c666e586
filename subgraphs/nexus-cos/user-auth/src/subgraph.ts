import { defineSubgraph } from '@nexusflow/kit';
import { loadUserAuthConfig } from './config.ts';
import { UserService } from './domain/user-service.ts';
import { User } from './entities/user.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [User];

export const subgraph = defineSubgraph({
  name: 'user-auth',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadUserAuthConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ users: new UserService() }),
});
