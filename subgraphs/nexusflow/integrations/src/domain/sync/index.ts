import { createWorkQueue, type EntityManager, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { IntegrationsConfig } from '../../config.ts';
import type { Integration } from '../../entities/integration.entity.ts';
import type { Connections } from '../connections.ts';
import type { ProviderName } from '../providers.ts';
import type { CrmAdapter } from './adapter.ts';
import { CrmStore } from './crm-store.ts';
import { HubSpotAdapter } from './hubspot.ts';
import { PipedriveAdapter } from './pipedrive.ts';
import { apiOrigin } from './provider-http.ts';
import { SalesforceAdapter } from './salesforce.ts';
import { SyncEngine, type SyncJob } from './sync-engine.ts';
import { ZohoAdapter } from './zoho.ts';

export const SYNC_QUEUE = 'integrations.crm-sync';

/** The CRM records' store, the sync's queue and its engine, reaching each CRM through its adapter. */
export function createCrmSync(runtime: SubgraphRuntime, config: IntegrationsConfig, connections: Connections, eventsRecorded: () => void) {
  const adapterFor = (em: EntityManager, integration: Integration): CrmAdapter | null => {
    const provider = integration.provider as ProviderName;
    const common = {
      token: (rejected?: string) => connections.accessToken(em, integration.id, rejected),
      pageSize: config.sync.pageSize,
      timeoutMs: config.providerTimeoutSeconds * 1000,
      maxRateLimitRetries: config.sync.maxRateLimitWaits,
    };
    const settings = config.providers[provider];
    const overridden = settings.baseUrl.origin !== new URL(settings.definition.defaultBaseUrl).origin;
    const origin = (fallback: string | null) => () =>
      apiOrigin(integration.apiBaseUrl ?? null, fallback, overridden, settings.definition.displayName);
    switch (provider) {
      case 'HUBSPOT':
        return new HubSpotAdapter({ ...common, settings });
      case 'SALESFORCE':
        return new SalesforceAdapter({ ...common, apiOrigin: origin(null) });
      case 'PIPEDRIVE':
        return new PipedriveAdapter({ ...common, apiOrigin: origin('https://api.pipedrive.com') });
      case 'ZOHO_CRM':
        return new ZohoAdapter({ ...common, apiOrigin: origin('https://www.zohoapis.com') });
      default:
        return null;
    }
  };
  const queue = createWorkQueue<SyncJob>(runtime.config.amqpUrl, `${runtime.config.amqpNamespace}.${SYNC_QUEUE}`, runtime.logger);
  const engine = new SyncEngine({
    database: runtime.database,
    queue,
    pubsub: runtime.pubsub,
    logger: runtime.logger,
    now: runtime.clock,
    adapterFor,
    eventsRecorded,
    pageSize: config.sync.pageSize,
    maxAttempts: config.sync.maxAttempts,
    retryDelayMs: config.sync.retryDelayMs,
    leaseMs: config.sync.leaseMs,
  });
  return { store: new CrmStore({ now: runtime.clock, adapterFor }), engine, queue, live: runtime.pubsub };
}

export type CrmSync = ReturnType<typeof createCrmSync>;

/**
 * The sync workers. Without a broker the queue lives in this process, so runs it left unfinished when it stopped are
 * queued again; with RabbitMQ their jobs are still there, unacknowledged ones delivered again.
 */
export async function startCrmSyncWork(runtime: SubgraphRuntime, sync: CrmSync, config: IntegrationsConfig): Promise<Stoppable> {
  const consumer = await sync.queue.consume((job) => sync.engine.handle(job), { concurrency: config.sync.concurrency });
  if (!runtime.config.amqpUrl) {
    const requeued = await sync.engine.requeueUnfinished();
    if (requeued > 0) runtime.logger.info({ requeued }, 'resumed unfinished CRM sync runs');
  }
  const stopRequeueing = sync.queue.onReconnected(() => {
    sync.engine
      .requeueUnleased()
      .catch((error: unknown) => runtime.logger.error({ err: error }, 'could not queue unfinished CRM sync runs again'));
  });
  return {
    close: async () => {
      stopRequeueing();
      await consumer.stop();
      await sync.queue.close();
    },
  };
}
