import type { SubgraphContext } from '@nexusflow/kit';
import type { ApiKeys } from './domain/api-keys.ts';
import type { AuthService } from './domain/auth-service.ts';
import type { AuthLoaders } from './loaders.ts';

export interface AuthServices {
  auth: AuthService;
  apiKeys: ApiKeys;
}

export type AuthContext = SubgraphContext<AuthLoaders, AuthServices>;
