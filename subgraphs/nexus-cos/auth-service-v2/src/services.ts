import { PeriodicTask, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { AuthServiceV2Config } from './config.ts';
import type { AuthServiceV2Services } from './context.ts';
import { AuthorizationServer } from './domain/authorization-server.ts';
import { ClientSecretVault } from './domain/client-secret-vault.ts';
import { CosUsers } from './domain/cos-users.ts';
import { AuthorizationInteraction } from './domain/interaction.ts';
import { OAuthClientService } from './domain/oauth-client-service.ts';
import { pruneExpiredRecords } from './domain/provider-adapter.ts';
import { SealedSecrets } from './domain/sealed-secrets.ts';

export function createAuthServiceV2Services(runtime: SubgraphRuntime, config: AuthServiceV2Config): AuthServiceV2Services {
  const now = () => new Date(runtime.clock());
  const secrets = new SealedSecrets(config.keyEncryptionKey);
  const vault = new ClientSecretVault({ url: config.keyServiceUrl, internalSecret: config.subgraph.internalSecret, now: runtime.clock });
  const cosUsers = new CosUsers(
    config.cosAccessTokens,
    {
      url: config.tokenMgrUrl,
      internalSecret: config.subgraph.internalSecret,
      now: runtime.clock,
    },
    { url: config.userAuthUrl, internalSecret: config.subgraph.internalSecret, now: runtime.clock },
  );
  const authorizationServer = new AuthorizationServer(runtime.database, secrets, vault, config.oauth, runtime.logger, now, (userId) =>
    cosUsers.isActive(userId),
  );
  return {
    database: runtime.database,
    oauthClients: new OAuthClientService(vault, runtime.logger, now),
    authorizationServer,
    cosUsers,
    interaction: new AuthorizationInteraction(authorizationServer, runtime.database, cosUsers, now),
    pruning: new PeriodicTask(() => pruneExpiredRecords(runtime.database, now()), {
      logger: runtime.logger,
      failureMessage: 'pruning expired OAuth provider records failed; the next pass retries',
    }),
    now,
  };
}

/** Loads the signing keys (making the first) before the service answers ready, then prunes on its timer. */
export async function startAuthServiceV2Background(
  _runtime: SubgraphRuntime,
  services: AuthServiceV2Services,
  config: AuthServiceV2Config,
): Promise<Stoppable> {
  await services.authorizationServer.provider();
  services.pruning.start(config.oauth.pruneIntervalMs);
  return { close: () => services.pruning.stop() };
}
