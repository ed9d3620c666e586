import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A company of a tenant as NexusFlow keeps it, edited through the API and synced with the tenant's CRMs (see
 * domain/sync); deals belong to companies. `updatedAt` is set by whoever changes it, on the subgraph's clock, as a
 * contact's is (see CrmContact).
 */
export const CrmCompanySchema = defineEntity({
  name: 'CrmCompany',
  tableName: 'crm_companies',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    updatedAt: p.datetime(),
    name: p.string().nullable(),
    domain: p.string().nullable(),
    industry: p.string().nullable(),
    phone: p.string().nullable(),
    custom: p.json<Record<string, unknown>>(),
  },
});

export class CrmCompany extends CrmCompanySchema.class {}
CrmCompanySchema.setClass(CrmCompany);
