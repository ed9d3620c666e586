import type { SubgraphContext } from '@nexusflow/kit';
import type { OAuthClientService } from './domain/oauth-client-service.ts';
import type { AuthServiceV2Loaders } from './loaders.ts';

export interface AuthServiceV2Services {
  oauthClients: OAuthClientService;
}

export type AuthServiceV2Context = SubgraphContext<AuthServiceV2Loaders, AuthServiceV2Services>;
