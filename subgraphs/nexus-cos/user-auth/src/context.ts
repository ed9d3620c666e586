import type { RateLimiter, SubgraphContext } from '@nexusflow/kit';
import type { UserAccounts } from './domain/user-accounts.ts';
import type { UserAuthLoaders } from './loaders.ts';

export interface UserAuthServices {
  accounts: UserAccounts;
  limiter: RateLimiter;
}

export type UserAuthContext = SubgraphContext<UserAuthLoaders, UserAuthServices>;
