import { createRateLimiter, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { UserAuthConfig } from './config.ts';
import type { UserAuthServices } from './context.ts';
import { UserAccounts } from './domain/user-accounts.ts';
import { UserSessions } from './domain/user-sessions.ts';
import { LoggedVerificationMailer } from './domain/verification-mailer.ts';

export function createUserAuthServices(runtime: SubgraphRuntime, config: UserAuthConfig): UserAuthServices {
  const limiter = createRateLimiter(config.subgraph.redisUrl, runtime.logger, {
    prefix: `${config.subgraph.redisNamespace}:user-auth:ratelimit:`,
    now: runtime.clock,
  });
  return {
    limiter,
    accounts: new UserAccounts({
      limiter,
      rateLimits: config.rateLimits,
      mailer: new LoggedVerificationMailer(runtime.logger, config.subgraph.nodeEnv === 'production'),
      sessions: new UserSessions({
        sessionMgrUrl: config.sessionMgrUrl,
        internalSecret: config.subgraph.internalSecret,
        logger: runtime.logger,
      }),
      verificationUrl: config.emailVerification.url,
      verificationTtlMs: config.emailVerification.ttlMs,
      now: () => new Date(runtime.clock()),
    }),
  };
}

/** Nothing runs in the background: this closes the rate limiter's Redis connection when the service stops. */
export async function closeRateLimiter(_runtime: SubgraphRuntime, services: UserAuthServices): Promise<Stoppable> {
  return { close: () => services.limiter.close() };
}
