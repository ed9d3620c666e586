import { defineSubgraph } from '@nexusflow/kit';
import { loadAuthServiceV2Config } from './config.ts';
import { OAuthClient } from './entities/oauth-client.entity.ts';
import { OAuthConsent } from './entities/oauth-consent.entity.ts';
import { OAuthSigningKey } from './entities/oauth-signing-key.entity.ts';
import { ProviderRecord } from './entities/provider-record.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createAuthServiceV2Services, startAuthServiceV2Background } from './services.ts';

export const entities = [OAuthClient, OAuthConsent, ProviderRecord, OAuthSigningKey];

export const subgraph = defineSubgraph({
  name: 'auth-service-v2',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAuthServiceV2Config,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createAuthServiceV2Services,
  background: startAuthServiceV2Background,
  // Ready once it can sign (the provider is built when its keys are loaded) and tell who authorizes an app (token-mgr).
  healthChecks: (services) => ({
    authorizationServer: async () => {
      await services.authorizationServer.provider();
    },
    tokenMgr: () => services.cosUsers.ping(),
  }),
  // The OAuth and OpenID Connect endpoints third-party apps call directly, beside GraphQL on the same port.
  routes: (services) => [services.interaction.route(), services.authorizationServer.route()],
});
