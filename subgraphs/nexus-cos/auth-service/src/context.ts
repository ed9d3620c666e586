import type { RateLimiter, SubgraphContext } from '@nexusflow/kit';
import type { SignInFlow } from './domain/sign-in-flow.ts';
import type { AuthServiceLoaders } from './loaders.ts';

export interface AuthServiceServices {
  flow: SignInFlow;
  limiter: RateLimiter;
}

export type AuthServiceContext = SubgraphContext<AuthServiceLoaders, AuthServiceServices>;
