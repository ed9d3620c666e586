import type { SubgraphContext } from '@nexusflow/kit';
import type { AuthService } from './domain/auth-service.ts';
import type { AuthLoaders } from './loaders.ts';

export interface AuthServices {
  auth: AuthService;
}

export type AuthContext = SubgraphContext<AuthLoaders, AuthServices>;
