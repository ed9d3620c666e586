import { defineSubgraph, OutboxEvent } from '@nexusflow/kit';
import { loadIntegrationsConfig } from './config.ts';
import { CrmCompany } from './entities/crm-company.entity.ts';
import { CrmContact } from './entities/crm-contact.entity.ts';
import { CrmDeal } from './entities/crm-deal.entity.ts';
import { CrmExternalLink } from './entities/crm-external-link.entity.ts';
import { CrmFieldMappingSet } from './entities/crm-field-mapping-set.entity.ts';
import { CrmSyncConflict } from './entities/crm-sync-conflict.entity.ts';
import { CrmSyncRun } from './entities/crm-sync-run.entity.ts';
import { IntegrationActionReceipt } from './entities/integration-action-receipt.entity.ts';
import { IntegrationAuthorization } from './entities/integration-authorization.entity.ts';
import { IntegrationWebhookSecret } from './entities/integration-webhook-secret.entity.ts';
import { Integration } from './entities/integration.entity.ts';
import { MailPushReceipt } from './entities/mail-push-receipt.entity.ts';
import { MailboxWatch } from './entities/mailbox-watch.entity.ts';
import { WebhookDelivery } from './entities/webhook-delivery.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createIntegrationServices, startIntegrationWork } from './services.ts';

export const entities = [
  Integration,
  IntegrationAuthorization,
  CrmContact,
  CrmCompany,
  CrmDeal,
  CrmExternalLink,
  CrmFieldMappingSet,
  CrmSyncRun,
  CrmSyncConflict,
  IntegrationWebhookSecret,
  WebhookDelivery,
  IntegrationActionReceipt,
  MailboxWatch,
  MailPushReceipt,
  OutboxEvent,
];

export const subgraph = defineSubgraph({
  name: 'integrations',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadIntegrationsConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createIntegrationServices,
  background: startIntegrationWork,
  healthChecks: (services) => ({ webhookQueue: () => services.webhookQueue.ping() }),
  routes: (services) => [services.webhooks.route(), services.appWebhooks.route(), services.mailWatches.route()],
});
