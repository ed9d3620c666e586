import type { EntityClass } from '@mikro-orm/postgresql';
import type { EntityManager } from '@nexusflow/kit';
import { CrmCompany } from '../../entities/crm-company.entity.ts';
import { CrmContact } from '../../entities/crm-contact.entity.ts';
import { CrmDeal } from '../../entities/crm-deal.entity.ts';
import type { CrmObjectType, MappingPlan } from './mappings.ts';

/** A NexusFlow record that syncs: a contact, a company or a deal. */
export type CrmRecord = CrmContact | CrmCompany | CrmDeal;

const ENTITIES = { CONTACT: CrmContact, COMPANY: CrmCompany, DEAL: CrmDeal } as const;

/** The table of each kind of record, for the push's SQL. */
export const RECORD_TABLES: Record<CrmObjectType, string> = { CONTACT: 'crm_contacts', COMPANY: 'crm_companies', DEAL: 'crm_deals' };

export const recordEntity = (objectType: CrmObjectType) => ENTITIES[objectType] as EntityClass<CrmRecord>;

export function objectTypeOf(record: CrmRecord): CrmObjectType {
  if (record instanceof CrmDeal) return 'DEAL';
  return record instanceof CrmCompany ? 'COMPANY' : 'CONTACT';
}

export async function findRecords(em: EntityManager, objectType: CrmObjectType, ids: readonly string[]): Promise<CrmRecord[]> {
  if (ids.length === 0) return [];
  return em.find(recordEntity(objectType), { id: { $in: [...ids] } }, { orderBy: { id: 'asc' } });
}

/** A new, empty record of a kind, of `tenantId`, persisted with the unit of work's next flush. */
export function newRecord(em: EntityManager, objectType: CrmObjectType, tenantId: string, now: Date): CrmRecord {
  const base = { tenantId, updatedAt: now, custom: {} };
  switch (objectType) {
    case 'CONTACT':
      return em.create(CrmContact, { ...base, email: null, firstName: null, lastName: null, phone: null, company: null });
    case 'COMPANY':
      return em.create(CrmCompany, { ...base, name: null, domain: null, industry: null, phone: null });
    case 'DEAL':
      return em.create(CrmDeal, { ...base, name: null, amount: null, currency: null, stage: null, closeDate: null, companyId: null });
  }
}

/**
 * The values a sync compares and keeps of a record: its mapped fields, and a deal's company (NexusFlow's id of it),
 * which travels as the CRM's association rather than as a mapped field.
 */
export function syncedValues(objectType: CrmObjectType, plan: MappingPlan, record: CrmRecord): Record<string, unknown> {
  const values = plan.localValues(record);
  if (objectType === 'DEAL') values.companyId = (record as CrmDeal).companyId ?? null;
  return values;
}
