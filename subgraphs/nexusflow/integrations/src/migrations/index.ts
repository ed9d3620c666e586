import type { MigrationObject } from '@mikro-orm/core';
import { InitialIntegrationsSchema } from './0001-initial.ts';
import { CrmSyncSchema } from './0002-crm-sync.ts';
import { InboundWebhooks } from './0003-inbound-webhooks.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialIntegrationsSchema },
  { name: '0002-crm-sync', class: CrmSyncSchema },
  { name: '0003-inbound-webhooks', class: InboundWebhooks },
];
