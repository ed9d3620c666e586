import { defineSubgraph } from '@nexusflow/kit';
import { loadAuthServiceV2Config } from './config.ts';
import { OAuthClientService } from './domain/oauth-client-service.ts';
import { OAuthClient } from './entities/oauth-client.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [OAuthClient];

export const subgraph = defineSubgraph({
  name: 'auth-service-v2',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAuthServiceV2Config,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ oauthClients: new OAuthClientService() }),
});
