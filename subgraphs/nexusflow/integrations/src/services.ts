import { createWorkQueue, OutboxRelay, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import { IntegrationActions } from './actions/integration-actions.ts';
import type { IntegrationsConfig } from './config.ts';
import { Connections } from './domain/connections.ts';
import { KeyRing } from './domain/key-ring.ts';
import { OAuthProvider } from './domain/oauth.ts';
import { PROVIDER_NAMES, type ProviderName } from './domain/providers.ts';
import { createCrmSync, startCrmSyncWork } from './domain/sync/index.ts';
import { DELIVERY_QUEUE, WebhookDeliveries, type DeliveryMessage } from './webhooks/deliveries.ts';
import { IntegrationWebhookSecrets } from './webhooks/secrets.ts';

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
  const actions = new IntegrationActions({
    providers: config.providers,
    connections,
    providerTimeoutSeconds: config.providerTimeoutSeconds,
    logger: runtime.logger,
    now: runtime.clock,
  });
  const webhookSecrets = new IntegrationWebhookSecrets(new KeyRing(config.encryptionKeys));
  const webhookQueue = createWorkQueue<DeliveryMessage>(
    runtime.config.amqpUrl,
    `${runtime.config.amqpNamespace}.${DELIVERY_QUEUE}`,
    runtime.logger,
  );
  const webhooks = new WebhookDeliveries({
    database: runtime.database,
    secrets: webhookSecrets,
    queue: webhookQueue,
    providers: config.providers,
    settings: config.webhooks,
    eventsRecorded: () => relay.notify(),
    logger: runtime.logger,
    now: runtime.clock,
  });
  const crm = createCrmSync(runtime, config, connections, () => relay.notify());
  return { connections, actions, relay, webhooks, webhookSecrets, webhookQueue, crm };
}

export type IntegrationServices = ReturnType<typeof createIntegrationServices>;

/**
 * The outbox relay, the consumer of the webhook delivery queue (with the deliveries recorded and not yet queued sent
 * again at start and whenever the broker is back), and once at start the re-encryption of what a rotated-out key sealed.
 */
export async function startIntegrationWork(
  runtime: SubgraphRuntime,
  services: IntegrationServices,
  config: IntegrationsConfig,
): Promise<Stoppable> {
  services.relay.start();
  const crmSync = await startCrmSyncWork(runtime, services.crm, config);
  const webhookConsumer = await services.webhookQueue.consume((message) => services.webhooks.process(message));
  const resendWebhookDeliveries = () =>
    services.webhooks
      .resendPending()
      .catch((error: unknown) => runtime.logger.error({ err: error }, 'could not queue webhook deliveries again'));
  const stopResending = services.webhookQueue.onReconnected(() => void resendWebhookDeliveries());
  await resendWebhookDeliveries();
  const reencryption = Promise.all([services.connections.reencryptCredentials(), services.webhookSecrets.reencrypt(runtime.database)])
    .then(([credentials, webhookSecrets]) => {
      if (credentials + webhookSecrets > 0) {
        runtime.logger.info(
          { credentials, webhookSecrets },
          're-encrypted integration credentials and webhook secrets with the newest key',
        );
      }
    })
    .catch((error: unknown) => runtime.logger.error({ err: error }, 'could not re-encrypt integration credentials'));
  return {
    close: async () => {
      await reencryption;
      await crmSync.close();
      stopResending();
      await webhookConsumer.stop();
      await services.webhookQueue.close();
      await services.relay.stop();
    },
  };
}
