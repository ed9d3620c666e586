import { loadTypeDefs, type SubgraphDefinition } from '@nexusflow/kit';
import type { AuthConfig } from './config.ts';
import type { AuthServices } from './context.ts';
import { AuthService } from './domain/auth-service.ts';
import { RefreshToken } from './entities/refresh-token.entity.ts';
import { Tenant } from './entities/tenant.entity.ts';
import { User } from './entities/user.entity.ts';
import { createLoaders, type AuthLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const typeDefs = loadTypeDefs(new URL('../schema.graphql', import.meta.url));

export function authSubgraph(config: AuthConfig): SubgraphDefinition<AuthLoaders, AuthServices> {
  return {
    typeDefs,
    resolvers: resolvers as SubgraphDefinition<AuthLoaders, AuthServices>['resolvers'],
    entities: [Tenant, User, RefreshToken],
    migrations,
    createLoaders,
    createServices: () => ({ auth: new AuthService(config) }),
  };
}
