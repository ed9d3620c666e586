import { OutboxRelay, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { IntegrationsConfig } from './config.ts';
import { Connections } from './domain/connections.ts';
import { KeyRing } from './domain/key-ring.ts';
import { OAuthProvider } from './domain/oauth.ts';
import { PROVIDER_NAMES, type ProviderName } from './domain/providers.ts';

/** The providers' OAuth clients (those configured), the tenants' connections to them, and the outbox of their events. */
export function createIntegrationServices(runtime: SubgraphRuntime, config: IntegrationsConfig) {
  const oauth = new Map<ProviderName, OAuthProvider>();
  for (const name of PROVIDER_NAMES) {
    const settings = config.providers[name];
    if (!settings.credentials) continue;
    oauth.set(name, new OAuthProvider(settings, settings.credentials, config.redirectUri, config.providerTimeoutSeconds, runtime.clock));
  }
  // integration.connected and .disconnected, for the workflow engine's triggers and for audit.
  const relay = new OutboxRelay(runtime.database, runtime.eventBus, runtime.logger);
  const connections = new Connections({
    providers: config.providers,
    oauth,
    keys: new KeyRing(config.encryptionKeys),
    connectTtlSeconds: config.connectTtlSeconds,
    refreshMarginSeconds: config.refreshMarginSeconds,
    database: runtime.database,
    eventsRecorded: () => relay.notify(),
    logger: runtime.logger,
    now: runtime.clock,
  });
  return { connections, relay };
}

export type IntegrationServices = ReturnType<typeof createIntegrationServices>;

/** The outbox relay, and once at start the re-encryption of what a rotated-out key sealed. */
export async function startIntegrationWork(runtime: SubgraphRuntime, services: IntegrationServices): Promise<Stoppable> {
  services.relay.start();
  const reencryption = services.connections
    .reencryptCredentials()
    .then((count) => {
      if (count > 0) runtime.logger.info({ count }, 're-encrypted integration credentials with the newest key');
    })
    .catch((error: unknown) => runtime.logger.error({ err: error }, 'could not re-encrypt integration credentials'));
  return {
    close: async () => {
      await reencryption;
      await services.relay.stop();
    },
  };
}
