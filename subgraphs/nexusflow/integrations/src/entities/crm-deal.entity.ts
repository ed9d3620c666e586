import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A deal of a tenant as NexusFlow keeps it, synced with the tenant's CRMs with the company it belongs to (a CRM
 * association or lookup there). The amount is a decimal kept as its text, one spelling per value (see
 * normalizeValue), the close date a calendar date (YYYY-MM-DD).
 */
export const CrmDealSchema = defineEntity({
  name: 'CrmDeal',
  tableName: 'crm_deals',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    updatedAt: p.datetime(),
    name: p.string().nullable(),
    amount: p.decimal().columnType('numeric').nullable(),
    currency: p.string().nullable(),
    stage: p.string().nullable(),
    closeDate: p.date().nullable(),
    /** The CrmCompany it belongs to, of the same tenant; null: none. */
    companyId: p.uuid().nullable().index(),
    custom: p.json<Record<string, unknown>>(),
  },
});

export class CrmDeal extends CrmDealSchema.class {}
CrmDealSchema.setClass(CrmDeal);
