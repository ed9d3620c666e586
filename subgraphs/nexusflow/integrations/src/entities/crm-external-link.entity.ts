import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A NexusFlow record and its counterpart in one integration's CRM, as the last sync left them agreeing: the CRM's
 * `updatedAt` then and ours then. A side whose time is newer than these changed since. The unique keys make every
 * upsert of a sync (and of a sync run again after an interruption) land on the same pair.
 */
export const CrmExternalLinkSchema = defineEntity({
  name: 'CrmExternalLink',
  tableName: 'crm_external_links',
  filters: tenantFilter(),
  uniques: [{ properties: ['integrationId', 'objectType', 'externalId'] }, { properties: ['integrationId', 'objectType', 'recordId'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    integrationId: p.uuid(),
    objectType: p.string(),
    recordId: p.uuid().index(),
    externalId: p.string(),
    providerUpdatedAt: p.datetime().nullable(),
    localUpdatedAt: p.datetime(),
    /** SHA-256 of the mapped values both sides agreed on, to skip a CRM change that changed none of them. */
    contentHash: p.string(),
    syncedAt: p.datetime(),
  },
});

export class CrmExternalLink extends CrmExternalLinkSchema.class {}
CrmExternalLinkSchema.setClass(CrmExternalLink);
