import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A record changed on both sides since the last sync, held under the HOLD policy: both sides' mapped values, by
 * NexusFlow's field names, until someone picks one. While held, the record is neither pulled over nor pushed.
 */
export const CrmSyncConflictSchema = defineEntity({
  name: 'CrmSyncConflict',
  tableName: 'crm_sync_conflicts',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    integrationId: p.uuid().index(),
    objectType: p.string(),
    recordId: p.uuid(),
    externalId: p.string(),
    nexusflowValues: p.json<Record<string, unknown>>(),
    providerValues: p.json<Record<string, unknown>>(),
    providerUpdatedAt: p.datetime().nullable(),
    resolvedAt: p.datetime().nullable(),
    resolvedBy: p.uuid().nullable(),
    choice: p.string().nullable(),
  },
});

export class CrmSyncConflict extends CrmSyncConflictSchema.class {}
CrmSyncConflictSchema.setClass(CrmSyncConflict);
