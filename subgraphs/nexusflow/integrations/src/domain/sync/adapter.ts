import { clientError, ErrorCode } from '@nexusflow/kit';
import { IntegrationTokenError } from '../connections.ts';
import type { CrmObjectType, FieldMappingEntry } from './mappings.ts';

/**
 * A CRM's record as the sync sees it: its id, its properties (as strings, as CRMs give them) and when it last changed.
 * A deal also says which company it belongs to, by the CRM's id of the company (null: none).
 */
export interface ProviderRecord {
  externalId: string;
  properties: Record<string, string | null>;
  updatedAt: Date;
  /** Deals only: the CRM's id of the company the deal belongs to; null when it belongs to none. */
  companyExternalId?: string | null;
}

export interface ChangedPage {
  records: ProviderRecord[];
  /** Where the next page starts; null on the last. */
  nextCursor: string | null;
}

/**
 * A record to create, or to find and update when the CRM has it already: by `key`, the value of its creation key's
 * property (see {@link CreationKey}).
 */
export interface RecordToCreate {
  key: string;
  properties: Record<string, string>;
  /** Deals only: the CRM's id of the company to link the deal to; null: none. */
  companyExternalId?: string | null;
}

export interface RecordToUpdate {
  externalId: string;
  properties: Record<string, string>;
  /** Deals only: the CRM's id of the company the deal belongs to now; null: none (an old link is removed). */
  companyExternalId?: string | null;
}

/**
 * How a CRM tells a record it has already from one to create, so that creating is idempotent: `property` is unique at
 * the CRM and holds the key. `MAPPED`: the key is the record's own value of that property as the mappings send it,
 * lower-cased (HubSpot contacts by `email`, companies by `domain`); a record without it waits until it has one.
 * `NEXUSFLOW_ID`: the record has no natural unique property (deals), so the key is NexusFlow's id of the record, which
 * the adapter stores in a unique custom property of the CRM's (HubSpot's unique-value property `nexusflow_id`, used as
 * the batch upsert's `idProperty`; Salesforce's external-id field and the like).
 */
export interface CreationKey {
  property: string;
  source: 'MAPPED' | 'NEXUSFLOW_ID';
}

/**
 * What the sync needs of a CRM, for one integration (its account and token), for each kind of record: contacts,
 * companies and deals. Creating is idempotent: a record the CRM has already (made by an attempt whose answer was lost)
 * is matched by its creation key, never made twice. A deal's company travels as `companyExternalId`, the adapter
 * reading and writing it the CRM's way (an association, a lookup field).
 */
export interface CrmAdapter {
  /**
   * NexusFlow's standard fields of a kind of record in this CRM's property names: what syncs when a tenant saved no
   * mappings. Targets are NexusFlow's field names of the kind (see NEXUSFLOW_FIELDS in mappings.ts).
   */
  defaultMappings(objectType: CrmObjectType): readonly FieldMappingEntry[];
  /** The CRM's field names of a kind of record, to check mappings against. */
  fields(objectType: CrmObjectType): Promise<Set<string>>;
  /** How a record of the kind is created idempotently; see {@link CreationKey}. */
  creationKey(objectType: CrmObjectType): CreationKey;
  /**
   * A page of records changed at or after `since` (all, when null), oldest change first, from `cursor`; deals carry
   * their `companyExternalId`.
   */
  listChanged(objectType: CrmObjectType, since: Date | null, cursor: string | null, properties: readonly string[]): Promise<ChangedPage>;
  /**
   * Creates the records the CRM does not have yet and updates those it has, by key (storing a NEXUSFLOW_ID key in its
   * property); the results by key, lower-cased.
   */
  createOrMatch(objectType: CrmObjectType, records: readonly RecordToCreate[]): Promise<Map<string, ProviderRecord>>;
  /** Updates records by the CRM's ids; the results by id. */
  update(objectType: CrmObjectType, records: readonly RecordToUpdate[]): Promise<Map<string, ProviderRecord>>;
}

/** A CRM request that failed: `retryable` when trying again later may work (5xx, rate limits exhausted, unreachable). */
export class ProviderRequestError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'ProviderRequestError';
  }
}

/** A CRM's failure met while answering a request, as a GraphQL error in the CRM's words, without internals. */
export function providerFailure(error: unknown): Error {
  if (error instanceof ProviderRequestError) return clientError(ErrorCode.ServiceUnavailable, error.message);
  if (error instanceof IntegrationTokenError) return clientError(ErrorCode.ServiceUnavailable, error.message, { reason: error.reason });
  return error instanceof Error ? error : new Error(String(error));
}
