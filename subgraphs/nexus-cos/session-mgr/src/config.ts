import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const sessionMgrEnvSchema = z
  .object({
    ...subgraphEnv(serviceDefaults('nexus-cos', 'session-mgr')),
    /** A session ends when its refresh token goes unused this long (Auth0's default inactivity timeout is 3 days). */
    SESSION_IDLE_TIMEOUT_MINUTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(3 * 24 * 60),
    /** A session ends this long after the sign-in, however it is used. */
    SESSION_ABSOLUTE_TIMEOUT_HOURS: z.coerce
      .number()
      .int()
      .min(1)
      .max(8760)
      .default(30 * 24),
  })
  .refine((env) => env.SESSION_IDLE_TIMEOUT_MINUTES <= env.SESSION_ABSOLUTE_TIMEOUT_HOURS * 60, {
    path: ['SESSION_IDLE_TIMEOUT_MINUTES'],
    message: 'must not be longer than SESSION_ABSOLUTE_TIMEOUT_HOURS',
  });

export function loadSessionMgrConfig(env?: Environment) {
  return loadSubgraphConfig('session-mgr', sessionMgrEnvSchema, env, (parsed) => ({
    tokenMgrUrl: parsed.TOKEN_MGR_URL,
    timeouts: { idleMs: parsed.SESSION_IDLE_TIMEOUT_MINUTES * 60_000, absoluteMs: parsed.SESSION_ABSOLUTE_TIMEOUT_HOURS * 3_600_000 },
  }));
}

export type SessionMgrConfig = ReturnType<typeof loadSessionMgrConfig>;
