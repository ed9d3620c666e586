import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const authServiceEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'auth-service')),
  /** Sign-in attempts allowed per account (email) per LOGIN_RATE_LIMIT_PERIOD_SECONDS, whatever their outcome. */
  LOGIN_RATE_LIMIT_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
  /** Sign-in attempts allowed per client address per period: higher, since an office shares one. */
  LOGIN_RATE_LIMIT_PER_ADDRESS: z.coerce.number().int().min(1).default(100),
  LOGIN_RATE_LIMIT_PERIOD_SECONDS: z.coerce.number().int().min(1).default(900),
  /** How long auth-service waits for user-auth, session-mgr or token-mgr before it answers SERVICE_UNAVAILABLE. */
  DEPENDENCY_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
});

export function loadAuthServiceConfig(env?: Environment) {
  return loadSubgraphConfig('auth-service', authServiceEnvSchema, env, (parsed) => ({
    urls: { userAuth: parsed.USER_AUTH_URL, sessionMgr: parsed.SESSION_MGR_URL, tokenMgr: parsed.TOKEN_MGR_URL },
    dependencyTimeoutMs: parsed.DEPENDENCY_TIMEOUT_MS,
    loginRateLimit: {
      perAccount: parsed.LOGIN_RATE_LIMIT_PER_ACCOUNT,
      perAddress: parsed.LOGIN_RATE_LIMIT_PER_ADDRESS,
      periodMs: parsed.LOGIN_RATE_LIMIT_PERIOD_SECONDS * 1000,
    },
  }));
}

export type AuthServiceConfig = ReturnType<typeof loadAuthServiceConfig>;
