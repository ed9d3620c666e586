import { loadTypeDefs, systemFork, type SubgraphDefinition } from '@nexusflow/kit';
import type { AuthConfig } from './config.ts';
import type { AuthServices } from './context.ts';
import { AuthService } from './domain/auth-service.ts';
import { RefreshToken } from './entities/refresh-token.entity.ts';
import { Tenant } from './entities/tenant.entity.ts';
import { ThrottleCounter } from './entities/throttle-counter.entity.ts';
import { User } from './entities/user.entity.ts';
import { createLoaders, type AuthLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const typeDefs = loadTypeDefs(new URL('../schema.graphql', import.meta.url));

/** Throttle counters past their window are deleted this often; until then they are only overwritten. */
const THROTTLE_PRUNE_INTERVAL_MS = 10 * 60_000;

/** @param now a controllable clock for tests; the wall clock otherwise. */
export function authSubgraph(config: AuthConfig, now?: () => number): SubgraphDefinition<AuthLoaders, AuthServices> {
  return {
    typeDefs,
    resolvers: resolvers as SubgraphDefinition<AuthLoaders, AuthServices>['resolvers'],
    entities: [Tenant, User, RefreshToken, ThrottleCounter],
    migrations,
    createLoaders,
    createServices: () => ({ auth: new AuthService({ ...config, now }) }),
    background: async (runtime, services) => {
      const pruner = setInterval(() => {
        services.auth
          .pruneThrottles(systemFork(runtime.database))
          .catch((error: unknown) => runtime.logger.warn({ err: error }, 'pruning throttle counters failed'));
      }, THROTTLE_PRUNE_INTERVAL_MS);
      pruner.unref();
      return { close: async () => clearInterval(pruner) };
    },
  };
}
