import type { SubgraphRuntime } from '@nexusflow/kit';
import type { UserAuthConfig } from './config.ts';
import type { UserAuthServices } from './context.ts';
import { UserAccounts } from './domain/user-accounts.ts';
import { LoggedVerificationMailer } from './domain/verification-mailer.ts';

export function createUserAuthServices(runtime: SubgraphRuntime, config: UserAuthConfig): UserAuthServices {
  return {
    accounts: new UserAccounts({
      mailer: new LoggedVerificationMailer(runtime.logger, config.subgraph.nodeEnv === 'production'),
      verificationUrl: config.emailVerification.url,
      verificationTtlMs: config.emailVerification.ttlMs,
      now: () => new Date(runtime.clock()),
    }),
  };
}
