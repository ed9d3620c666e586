import type { Database, PeriodicTask, SubgraphContext } from '@nexusflow/kit';
import type { AuthorizationServer } from './domain/authorization-server.ts';
import type { CosUsers } from './domain/cos-users.ts';
import type { AuthorizationInteraction } from './domain/interaction.ts';
import type { OAuthClientService } from './domain/oauth-client-service.ts';
import type { AuthServiceV2Loaders } from './loaders.ts';

export interface AuthServiceV2Services {
  database: Database;
  oauthClients: OAuthClientService;
  authorizationServer: AuthorizationServer;
  cosUsers: CosUsers;
  interaction: AuthorizationInteraction;
  /** Deletes expired provider records every OAUTH_PRUNE_INTERVAL_MS; tests run a pass with `runNow()`. */
  pruning: PeriodicTask;
  now: () => Date;
}

export type AuthServiceV2Context = SubgraphContext<AuthServiceV2Loaders, AuthServiceV2Services>;
