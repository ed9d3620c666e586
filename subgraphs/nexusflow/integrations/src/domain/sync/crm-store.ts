import { badUserInput, requireRole, requireUser, requireUuid, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import { CrmContact } from '../../entities/crm-contact.entity.ts';
import { CrmFieldMappingSet } from '../../entities/crm-field-mapping-set.entity.ts';
import { Integration } from '../../entities/integration.entity.ts';
import { providerFailure, type CrmAdapter } from './adapter.ts';
import {
  DEFAULT_CONFLICT_POLICY,
  DEFAULT_CONTACT_MAPPINGS,
  validateMappings,
  type ConflictPolicy,
  type CrmObjectType,
  type FieldMappingEntry,
  type MappingProblem,
} from './mappings.ts';

const MAX_PAGE = 100;
const WRITING_ROLES = [Role.Owner, Role.Admin, Role.Member] as const;
const ADMIN_ROLES = [Role.Owner, Role.Admin] as const;

export interface ContactInput {
  id?: string | null;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  phone?: string | null;
  company?: string | null;
  custom?: unknown;
}

export interface ContactPage {
  nodes: CrmContact[];
  endCursor: string | null;
  hasNextPage: boolean;
}

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

/** `createdAt` and `id` of the last contact of a page, opaque to clients. */
const encodeCursor = (contact: CrmContact) =>
  Buffer.from(JSON.stringify([contact.createdAt.toISOString(), contact.id])).toString('base64url');

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

/** The mappings of a kind of record through an integration: saved ones, or the defaults. */
export async function mappingSetOf(em: EntityManager, integrationId: string, objectType: CrmObjectType): Promise<MappingSetView> {
  const saved = await em.findOne(CrmFieldMappingSet, { integrationId, objectType });
  return {
    __typename: 'FieldMappingSet',
    integrationId,
    objectType,
    mappings: saved?.mappings ?? [...DEFAULT_CONTACT_MAPPINGS],
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
    requireUser(identity);
    const limit = Math.min(Math.max(first, 0), MAX_PAGE);
    const from = after === null ? null : decodeCursor(after);
    const where =
      from === null ? {} : { $or: [{ createdAt: { $gt: from.createdAt } }, { createdAt: from.createdAt, id: { $gt: from.id } }] };
    const found = await em.find(CrmContact, where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: limit + 1 });
    const nodes = found.slice(0, limit);
    const last = nodes.at(-1);
    return { nodes, endCursor: last ? encodeCursor(last) : null, hasNextPage: found.length > limit };
  }

  /** Creates a contact, or changes the fields given of one; its new `updatedAt` makes the next sync push it. */
  async saveContact(em: EntityManager, identity: Identity, input: ContactInput): Promise<CrmContact> {
    const caller = requireRole(identity, WRITING_ROLES);
    if (input.custom !== undefined && input.custom !== null && (typeof input.custom !== 'object' || Array.isArray(input.custom))) {
      throw badUserInput('"custom" must be an object', { field: 'custom' });
    }
    const now = new Date(this.options.now());
    let contact: CrmContact;
    if (input.id) {
      const found = await em.findOne(CrmContact, { id: requireUuid(input.id, 'id') });
      if (!found) throw badUserInput(`No contact ${input.id}`, { field: 'id' });
      contact = found;
    } else {
      contact = em.create(CrmContact, {
        tenantId: caller.tenantId,
        updatedAt: now,
        email: null,
        firstName: null,
        lastName: null,
        phone: null,
        company: null,
        custom: {},
      });
    }
    for (const field of ['email', 'firstName', 'lastName', 'phone', 'company'] as const) {
      if (input[field] !== undefined) contact[field] = input[field] ?? null;
    }
    if (input.custom !== undefined) contact.custom = (input.custom ?? {}) as Record<string, unknown>;
    contact.updatedAt = now;
    await em.flush();
    return contact;
  }

  async mappings(em: EntityManager, identity: Identity, integrationId: string, objectType: CrmObjectType): Promise<MappingSetView | null> {
    requireUser(identity);
    const integration = await em.findOne(Integration, { id: requireUuid(integrationId, 'integrationId'), disconnectedAt: null });
    return integration ? mappingSetOf(em, integration.id, objectType) : null;
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
    const problems = validateMappings(entries, providerFields);
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
