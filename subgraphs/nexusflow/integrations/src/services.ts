import {
  callSubgraph,
  createWorkQueue,
  instanceQueue,
  OutboxRelay,
  PeriodicTask,
  TenantAnswerCache,
  type Stoppable,
  type SubgraphRuntime,
} from '@nexusflow/kit';
import { IntegrationsIntegrationLimitDocument } from './__generated__/billing-operations.ts';
import { CrmRecordWrites } from './actions/crm-records.ts';
import { IntegrationActions } from './actions/integration-actions.ts';
import { ActionReceipts } from './actions/receipts.ts';
import type { IntegrationsConfig } from './config.ts';
import { Connections } from './domain/connections.ts';
import { KeyRing } from './domain/key-ring.ts';
import { OAuthProvider } from './domain/oauth.ts';
import { PROVIDER_NAMES, type ProviderName } from './domain/providers.ts';
import { createCrmSync, startCrmSyncWork } from './domain/sync/index.ts';
import { AppWebhooks } from './webhooks/app-webhooks.ts';
import { DELIVERY_QUEUE, WebhookDeliveries, type DeliveryMessage } from './webhooks/deliveries.ts';
import { MailboxWatches } from './webhooks/mail-watches.ts';
import { IntegrationWebhookSecrets } from './webhooks/secrets.ts';

/** The providers' OAuth clients (those configured), the tenants' connections to them, and the outbox of their events. */
export function createIntegrationServices(runtime: SubgraphRuntime, config: IntegrationsConfig) {
  const oauth = new Map<ProviderName, OAuthProvider>();
  for (const name of PROVIDER_NAMES) {
    const settings = config.providers[name];
    if (!settings.credentials) continue;
    oauth.set(name, new OAuthProvider(settings, settings.credentials, config.redirectUri, config.providerTimeoutSeconds, runtime.clock));
  }
  // Billing's answer, cached per tenant until its plan changes; billing down, connections are not limited.
  const integrationLimits = new TenantAnswerCache<number | null>({
    ask: async (identity) =>
      (
        await callSubgraph({
          url: config.billingUrl,
          internalSecret: runtime.config.internalSecret,
          identity,
          query: IntegrationsIntegrationLimitDocument,
          timeoutMs: 2_000,
        })
      ).planLimits.integrations,
    whenUnavailable: () => null,
    description: "a tenant's integrations limit from billing (connections are not limited meanwhile)",
    logger: runtime.logger,
    now: runtime.clock,
  });
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
    integrationsAllowed: (caller) => integrationLimits.get(caller),
    // The watches are made below, with what they need of these connections; they are only told of changes later.
    lifecycle: {
      connected: (integration) => mailWatches.connected(integration),
      disconnecting: (integration) => mailWatches.disconnecting(integration),
    },
  });
  const receipts = new ActionReceipts({
    database: runtime.database,
    retentionSeconds: config.actionReceiptRetentionSeconds,
    now: runtime.clock,
  });
  const actions = new IntegrationActions({
    providers: config.providers,
    connections,
    receipts,
    providerTimeoutSeconds: config.providerTimeoutSeconds,
    logger: runtime.logger,
    now: runtime.clock,
  });
  const webhookSecrets = new IntegrationWebhookSecrets(new KeyRing(config.encryptionKeys), {
    graceSeconds: config.webhooks.secretGraceSeconds,
    now: runtime.clock,
  });
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
  const appWebhooks = new AppWebhooks({
    database: runtime.database,
    deliveries: webhooks,
    providers: config.providers,
    settings: config.webhooks,
    logger: runtime.logger,
    now: runtime.clock,
  });
  const mailWatches: MailboxWatches = new MailboxWatches({
    database: runtime.database,
    connections,
    providers: config.providers,
    secrets: webhookSecrets,
    deliveries: webhooks,
    settings: config.mailWatches,
    maxBodyBytes: config.webhooks.maxBodyBytes,
    providerTimeoutSeconds: config.providerTimeoutSeconds,
    logger: runtime.logger,
    now: runtime.clock,
  });
  const crm = createCrmSync(runtime, config, connections, () => relay.notify());
  const crmRecords = new CrmRecordWrites(crm.store, receipts);
  return {
    connections,
    integrationLimits,
    actions,
    receipts,
    crmRecords,
    relay,
    webhooks,
    appWebhooks,
    mailWatches,
    webhookSecrets,
    webhookQueue,
    crm,
  };
}

export type IntegrationServices = ReturnType<typeof createIntegrationServices>;

/**
 * The outbox relay, the consumer of the webhook delivery queue (with the deliveries recorded and not yet queued sent
 * again at start and whenever the broker is back), the periodic renewal of mailbox watches, and once at start the re-encryption of what a rotated-out key sealed.
 */
export async function startIntegrationWork(
  runtime: SubgraphRuntime,
  services: IntegrationServices,
  config: IntegrationsConfig,
): Promise<Stoppable> {
  services.relay.start();
  const planChanges = await services.integrationLimits.listen(
    runtime.eventBus,
    instanceQueue(`${runtime.config.amqpNamespace}.integrations.plan-changes`, runtime.config.port),
    [SUBSCRIPTION_CHANGED],
  );
  const crmSync = await startCrmSyncWork(runtime, services.crm, config);
  const webhookConsumer = await services.webhookQueue.consume((message) => services.webhooks.process(message));
  const resendWebhookDeliveries = () =>
    services.webhooks
      .resendPending()
      .catch((error: unknown) => runtime.logger.error({ err: error }, 'could not queue webhook deliveries again'));
  const stopResending = services.webhookQueue.onReconnected(() => void resendWebhookDeliveries());
  await resendWebhookDeliveries();
  const pruning = startPruning(runtime, services);
  const mailWatchRenewal = services.mailWatches.startRenewing();
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
      await planChanges.stop();
      await pruning.stop();
      await reencryption;
      await mailWatchRenewal.stop();
      await crmSync.close();
      stopResending();
      await webhookConsumer.stop();
      await services.webhookQueue.close();
      await services.relay.stop();
    },
  };
}

const PRUNE_INTERVAL_MS = 60 * 60_000;

/** Published by the billing service whenever a tenant's plan or status changes: its integrations limit may have too. */
const SUBSCRIPTION_CHANGED = 'billing.subscription.changed';

/** Hourly, and once at start: forgets webhook delivery ids and action receipts older than their retention. */
function startPruning(runtime: SubgraphRuntime, services: IntegrationServices): PeriodicTask {
  return new PeriodicTask(() => Promise.all([services.webhooks.prune(), services.receipts.prune()]), {
    logger: runtime.logger,
    failureMessage: 'pruning old webhook delivery ids or action receipts failed; trying again next time',
    immediately: true,
  }).start(PRUNE_INTERVAL_MS);
}
