import { ADMIN_ROLES, badUserInput, requireRole, requireUser, requireUuid, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import { CrmCompany } from '../../entities/crm-company.entity.ts';
import { CrmContact } from '../../entities/crm-contact.entity.ts';
import { CrmDeal } from '../../entities/crm-deal.entity.ts';
import { CrmFieldMappingSet } from '../../entities/crm-field-mapping-set.entity.ts';
import { Integration } from '../../entities/integration.entity.ts';
import { providerFailure, type CrmAdapter } from './adapter.ts';
import { newRecord, recordEntity, type CrmRecord } from './crm-records.ts';
import {
  DEFAULT_CONFLICT_POLICY,
  MappingError,
  normalizeValue,
  validateMappings,
  type ConflictPolicy,
  type CrmObjectType,
  type FieldMappingEntry,
  type MappingProblem,
} from './mappings.ts';

const MAX_PAGE = 100;
const WRITING_ROLES = [Role.Owner, Role.Admin, Role.Member] as const;

export interface ContactInput {
  id?: string | null;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  phone?: string | null;
  company?: string | null;
  custom?: unknown;
}

export interface CompanyInput {
  id?: string | null;
  name?: string | null;
  domain?: string | null;
  industry?: string | null;
  phone?: string | null;
  custom?: unknown;
}

export interface DealInput {
  id?: string | null;
  name?: string | null;
  amount?: string | null;
  currency?: string | null;
  stage?: string | null;
  closeDate?: string | null;
  companyId?: string | null;
  custom?: unknown;
}

export interface RecordPage<T extends CrmRecord> {
  nodes: T[];
  endCursor: string | null;
  hasNextPage: boolean;
}
export type ContactPage = RecordPage<CrmContact>;

export interface MappingSetView {
  __typename: 'FieldMappingSet';
  integrationId: string;
  objectType: CrmObjectType;
  mappings: FieldMappingEntry[];
  conflictPolicy: ConflictPolicy;
  saved: boolean;
}

export type SaveMappingsResult =
  | MappingSetView
  | { __typename: 'InvalidFieldMappings'; message: string; problems: MappingProblem[] }
  | { __typename: 'IntegrationNotFound'; message: string; id: string };

/** `createdAt` and `id` of the last record of a page, opaque to clients. */
const encodeCursor = (record: CrmRecord) => Buffer.from(JSON.stringify([record.createdAt.toISOString(), record.id])).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    const date = new Date(createdAt);
    if (Number.isNaN(date.getTime()) || typeof id !== 'string') throw new Error('malformed');
    return { createdAt: date, id: requireUuid(id, 'after') };
  } catch {
    throw badUserInput('"after" is not a cursor of this list', { field: 'after' });
  }
}

function isCalendarDate(value: string): boolean {
  const date = new Date(`${value}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

/** An input's value as NexusFlow keeps it, or BAD_USER_INPUT naming the field. */
function checked(normalize: () => unknown, field: string): unknown {
  try {
    return normalize();
  } catch (error) {
    if (error instanceof MappingError) throw badUserInput(`"${field}" must be a decimal number such as 1500.50`, { field });
    throw error;
  }
}

/** The mappings of a kind of record through an integration: saved ones, or its CRM's defaults (none without an adapter). */
export async function mappingSetOf(
  em: EntityManager,
  integrationId: string,
  objectType: CrmObjectType,
  adapter: CrmAdapter | null,
): Promise<MappingSetView> {
  const saved = await em.findOne(CrmFieldMappingSet, { integrationId, objectType });
  return {
    __typename: 'FieldMappingSet',
    integrationId,
    objectType,
    mappings: saved?.mappings ?? [...(adapter?.defaultMappings(objectType) ?? [])],
    conflictPolicy: saved?.conflictPolicy ?? DEFAULT_CONFLICT_POLICY,
    saved: saved !== null,
  };
}

/** A tenant's CRM records on NexusFlow's side, and how they map to each integration's CRM. */
export class CrmStore {
  constructor(
    private readonly options: {
      now: () => number;
      /** The sync's adapter of an integration, or null when its CRM does not sync yet. */
      adapterFor: (em: EntityManager, integration: Integration) => CrmAdapter | null;
    },
  ) {}

  async contacts(em: EntityManager, identity: Identity, first: number, after: string | null): Promise<ContactPage> {
    return this.page<CrmContact>(em, identity, 'CONTACT', first, after);
  }

  async companies(em: EntityManager, identity: Identity, first: number, after: string | null): Promise<RecordPage<CrmCompany>> {
    return this.page<CrmCompany>(em, identity, 'COMPANY', first, after);
  }

  async deals(em: EntityManager, identity: Identity, first: number, after: string | null): Promise<RecordPage<CrmDeal>> {
    return this.page<CrmDeal>(em, identity, 'DEAL', first, after);
  }

  /** Creates a contact, or changes the fields given of one; its new `updatedAt` makes the next sync push it. */
  async saveContact(em: EntityManager, identity: Identity, input: ContactInput): Promise<CrmContact> {
    const contact = await this.recordToSave<CrmContact>(em, identity, 'CONTACT', input);
    for (const field of ['email', 'firstName', 'lastName', 'phone', 'company'] as const) {
      if (input[field] !== undefined) contact[field] = input[field] ?? null;
    }
    await em.flush();
    return contact;
  }

  /** Creates a company, or changes the fields given of one; its new `updatedAt` makes the next sync push it. */
  async saveCompany(em: EntityManager, identity: Identity, input: CompanyInput): Promise<CrmCompany> {
    const company = await this.recordToSave<CrmCompany>(em, identity, 'COMPANY', input);
    for (const field of ['name', 'domain', 'industry', 'phone'] as const) {
      if (input[field] !== undefined) company[field] = input[field] ?? null;
    }
    await em.flush();
    return company;
  }

  /**
   * Creates a deal, or changes the fields given of one, with the company it belongs to (one of the caller's tenant's);
   * its new `updatedAt` makes the next sync push it, linked to that company at the CRM.
   */
  async saveDeal(em: EntityManager, identity: Identity, input: DealInput): Promise<CrmDeal> {
    const amount = checked(() => normalizeValue('DECIMAL', 'amount', input.amount), 'amount') as string | null | undefined;
    if (input.closeDate !== undefined && input.closeDate !== null && !isCalendarDate(input.closeDate)) {
      throw badUserInput('"closeDate" must be a date as YYYY-MM-DD', { field: 'closeDate' });
    }
    let companyId = input.companyId;
    if (companyId) {
      const company = await em.findOne(CrmCompany, { id: requireUuid(companyId, 'companyId') });
      if (!company) throw badUserInput(`No company ${companyId}`, { field: 'companyId' });
      companyId = company.id;
    }
    const deal = await this.recordToSave<CrmDeal>(em, identity, 'DEAL', input);
    for (const field of ['name', 'currency', 'stage', 'closeDate'] as const) {
      if (input[field] !== undefined) deal[field] = input[field] ?? null;
    }
    if (amount !== undefined) deal.amount = amount === '' ? null : amount;
    if (companyId !== undefined) deal.companyId = companyId ?? null;
    await em.flush();
    return deal;
  }

  private async page<T extends CrmRecord>(
    em: EntityManager,
    identity: Identity,
    objectType: CrmObjectType,
    first: number,
    after: string | null,
  ): Promise<RecordPage<T>> {
    requireUser(identity);
    const limit = Math.min(Math.max(first, 0), MAX_PAGE);
    const from = after === null ? null : decodeCursor(after);
    const where =
      from === null ? {} : { $or: [{ createdAt: { $gt: from.createdAt } }, { createdAt: from.createdAt, id: { $gt: from.id } }] };
    const found = (await em.find(recordEntity(objectType), where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: limit + 1 })) as T[];
    const nodes = found.slice(0, limit);
    const last = nodes.at(-1);
    return { nodes, endCursor: last ? encodeCursor(last) : null, hasNextPage: found.length > limit };
  }

  /**
   * The record an input saves, of the caller's tenant: the one of its `id`, or a new one; its custom fields and
   * `updatedAt` set. Not for VIEWERs.
   */
  private async recordToSave<T extends CrmRecord>(
    em: EntityManager,
    identity: Identity,
    objectType: CrmObjectType,
    input: { id?: string | null; custom?: unknown },
  ): Promise<T> {
    const caller = requireRole(identity, WRITING_ROLES);
    if (input.custom !== undefined && input.custom !== null && (typeof input.custom !== 'object' || Array.isArray(input.custom))) {
      throw badUserInput('"custom" must be an object', { field: 'custom' });
    }
    const now = new Date(this.options.now());
    let record: CrmRecord;
    if (input.id) {
      const found = await em.findOne(recordEntity(objectType), { id: requireUuid(input.id, 'id') });
      if (!found) throw badUserInput(`No ${objectType.toLowerCase()} ${input.id}`, { field: 'id' });
      record = found;
    } else {
      record = newRecord(em, objectType, caller.tenantId, now);
    }
    if (input.custom !== undefined) record.custom = (input.custom ?? {}) as Record<string, unknown>;
    record.updatedAt = now;
    return record as T;
  }

  async mappings(em: EntityManager, identity: Identity, integrationId: string, objectType: CrmObjectType): Promise<MappingSetView | null> {
    requireUser(identity);
    const integration = await em.findOne(Integration, { id: requireUuid(integrationId, 'integrationId'), disconnectedAt: null });
    return integration ? mappingSetOf(em, integration.id, objectType, this.options.adapterFor(em, integration)) : null;
  }

  /**
   * Replaces the mappings after checking them against the CRM's fields (as it lists them now) and NexusFlow's, and
   * each transform's syntax; nothing is saved when anything is wrong.
   */
  async saveMappings(
    em: EntityManager,
    identity: Identity,
    integrationId: string,
    objectType: CrmObjectType,
    mappings: readonly FieldMappingEntry[],
    conflictPolicy: ConflictPolicy,
  ): Promise<SaveMappingsResult> {
    const caller = requireRole(identity, ADMIN_ROLES);
    const integration = await em.findOne(Integration, { id: requireUuid(integrationId, 'integrationId'), disconnectedAt: null });
    if (!integration) return { __typename: 'IntegrationNotFound', message: `No integration ${integrationId}`, id: integrationId };
    const adapter = this.options.adapterFor(em, integration);
    if (!adapter) {
      return {
        __typename: 'InvalidFieldMappings',
        message: `${integration.provider} does not sync`,
        problems: [{ index: 0, field: 'source', message: `${integration.provider} has no fields NexusFlow syncs` }],
      };
    }
    const entries = mappings.map((mapping) => ({
      source: mapping.source,
      target: mapping.target,
      transform: mapping.transform ?? null,
      defaultValue: mapping.defaultValue ?? null,
      direction: mapping.direction,
    }));
    const providerFields = await adapter.fields(objectType).catch((error: unknown) => {
      throw providerFailure(error);
    });
    const problems = validateMappings(objectType, entries, providerFields);
    if (problems.length > 0) {
      return {
        __typename: 'InvalidFieldMappings',
        message: `${problems.length} of the mappings' fields are wrong; nothing was saved`,
        problems,
      };
    }
    const saved = await em.findOne(CrmFieldMappingSet, { integrationId: integration.id, objectType });
    if (saved) {
      Object.assign(saved, { mappings: entries, conflictPolicy, savedBy: caller.userId });
    } else {
      em.create(CrmFieldMappingSet, {
        tenantId: caller.tenantId,
        integrationId: integration.id,
        objectType,
        mappings: entries,
        conflictPolicy,
        savedBy: caller.userId,
      });
    }
    await em.flush();
    return { __typename: 'FieldMappingSet', integrationId: integration.id, objectType, mappings: entries, conflictPolicy, saved: true };
  }
}
