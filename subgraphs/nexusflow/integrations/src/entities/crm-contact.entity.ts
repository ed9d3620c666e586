import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A contact of a tenant as NexusFlow keeps it, edited through the API and synced with the tenant's CRMs (see
 * domain/sync). `updatedAt` is set by whoever changes it, on the subgraph's clock, so that the sync can tell what
 * changed on this side since it last agreed with a CRM (see CrmExternalLink.localUpdatedAt).
 */
export const CrmContactSchema = defineEntity({
  name: 'CrmContact',
  tableName: 'crm_contacts',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    updatedAt: p.datetime(),
    email: p.string().nullable(),
    firstName: p.string().nullable(),
    lastName: p.string().nullable(),
    phone: p.string().nullable(),
    company: p.string().nullable(),
    custom: p.json<Record<string, unknown>>(),
  },
});

export class CrmContact extends CrmContactSchema.class {}
CrmContactSchema.setClass(CrmContact);
