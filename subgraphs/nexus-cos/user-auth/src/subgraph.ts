import { defineSubgraph } from '@nexusflow/kit';
import { loadUserAuthConfig } from './config.ts';
import { EmailVerification } from './entities/email-verification.entity.ts';
import { Organisation } from './entities/organisation.entity.ts';
import { User } from './entities/user.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { closeRateLimiter, createUserAuthServices } from './services.ts';

export const entities = [Organisation, User, EmailVerification];

export const subgraph = defineSubgraph({
  name: 'user-auth',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadUserAuthConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createUserAuthServices,
  background: closeRateLimiter,
});
