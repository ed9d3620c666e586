import type { MigrationObject } from '@mikro-orm/core';
import { InitialIntegrationsSchema } from './0001-initial.ts';
import { CrmSyncSchema } from './0002-crm-sync.ts';
import { InboundWebhooks } from './0003-inbound-webhooks.ts';
import { MailboxWatches } from './0004-mailbox-watches.ts';
import { CrmCompaniesAndDeals } from './0005-crm-companies-deals.ts';
import { WebhookRetentionAndActionReceipts } from './0006-webhook-retention-and-action-receipts.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialIntegrationsSchema },
  { name: '0002-crm-sync', class: CrmSyncSchema },
  { name: '0003-inbound-webhooks', class: InboundWebhooks },
  { name: '0004-mailbox-watches', class: MailboxWatches },
  { name: '0005-crm-companies-deals', class: CrmCompaniesAndDeals },
  { name: '0006-webhook-retention-and-action-receipts', class: WebhookRetentionAndActionReceipts },
];
