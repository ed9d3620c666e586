import type { SubgraphContext } from '@nexusflow/kit';
import type { LoginAttemptService } from './domain/login-attempt-service.ts';
import type { AuthServiceLoaders } from './loaders.ts';

export interface AuthServiceServices {
  loginAttempts: LoginAttemptService;
}

export type AuthServiceContext = SubgraphContext<AuthServiceLoaders, AuthServiceServices>;
