import { defineSubgraph } from '@nexusflow/kit';
import { loadTokenMgrConfig } from './config.ts';
import { tokenRoutes } from './domain/routes.ts';
import { RevokedToken } from './entities/revoked-token.entity.ts';
import { SessionToken } from './entities/session-token.entity.ts';
import { SigningKey } from './entities/signing-key.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createTokenMgrServices, startKeyRotation } from './services.ts';

export const entities = [SigningKey, RevokedToken, SessionToken];

export const subgraph = defineSubgraph({
  name: 'token-mgr',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadTokenMgrConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createTokenMgrServices,
  background: startKeyRotation,
  // Ready once it can sign (the rotation schedule makes the first key just after the server listens) and key-service,
  // which wraps the private keys, answers.
  healthChecks: (services) => ({
    signingKey: async () => {
      await services.keys.activeKey(services.database.fork(), services.now());
    },
    keyService: () => services.vault.ping(),
  }),
  routes: tokenRoutes,
});
