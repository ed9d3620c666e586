import { createRevokedSessions, defineSubgraph, systemFork, type SubgraphRuntime } from '@nexusflow/kit';
import { loadAuthConfig, type AuthConfig } from './config.ts';
import { ApiKeys } from './domain/api-keys.ts';
import { AuthService } from './domain/auth-service.ts';
import { Sessions } from './domain/sessions.ts';
import { ApiKey } from './entities/api-key.entity.ts';
import { RefreshToken } from './entities/refresh-token.entity.ts';
import { Session } from './entities/session.entity.ts';
import { Tenant } from './entities/tenant.entity.ts';
import { ThrottleCounter } from './entities/throttle-counter.entity.ts';
import { User } from './entities/user.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

/** Throttle counters past their window are deleted this often; until then they are only overwritten. */
const THROTTLE_PRUNE_INTERVAL_MS = 10 * 60_000;

export const subgraph = defineSubgraph({
  name: 'auth',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadAuthConfig,
  entities: [Tenant, User, RefreshToken, ThrottleCounter, ApiKey, Session],
  migrations,
  resolvers,
  createLoaders,
  createServices: (runtime: SubgraphRuntime, config: AuthConfig) => {
    // Redis when REDIS_URL is set, where every gateway reads it; otherwise this process's memory, which gateways
    // reach through the sessionRevoked query.
    const revokedSessions = createRevokedSessions(runtime.config.redisUrl, runtime.logger, {
      prefix: `${runtime.config.redisNamespace}:`,
      now: runtime.clock,
    });
    const sessions = new Sessions(revokedSessions, config.accessTokenTtlSeconds, runtime.clock);
    return {
      auth: new AuthService({ ...config, sessions, now: runtime.clock }),
      apiKeys: new ApiKeys(runtime.clock),
      sessions,
      revokedSessions,
    };
  },
  background: async (runtime, services) => {
    const pruner = setInterval(() => {
      services.auth
        .pruneThrottles(systemFork(runtime.database))
        .catch((error: unknown) => runtime.logger.warn({ err: error }, 'pruning throttle counters failed'));
    }, THROTTLE_PRUNE_INTERVAL_MS);
    pruner.unref();
    return {
      close: async () => {
        clearInterval(pruner);
        await services.revokedSessions.close();
      },
    };
  },
});
