import type { RevokedSessions, SubgraphContext } from '@nexusflow/kit';
import type { ApiKeys } from './domain/api-keys.ts';
import type { AuthService } from './domain/auth-service.ts';
import type { Sessions } from './domain/sessions.ts';
import type { AuthLoaders } from './loaders.ts';

export interface AuthServices {
  auth: AuthService;
  apiKeys: ApiKeys;
  sessions: Sessions;
  revokedSessions: RevokedSessions;
}

export type AuthContext = SubgraphContext<AuthLoaders, AuthServices>;
