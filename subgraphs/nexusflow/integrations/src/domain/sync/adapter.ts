import { clientError, ErrorCode } from '@nexusflow/kit';
import { IntegrationTokenError } from '../connections.ts';
import type { CrmObjectType } from './mappings.ts';

/** A CRM's record as the sync sees it: its id, its properties (as strings, as CRMs give them) and when it last changed. */
export interface ProviderRecord {
  externalId: string;
  properties: Record<string, string | null>;
  updatedAt: Date;
}

export interface ChangedPage {
  records: ProviderRecord[];
  /** Where the next page starts; null on the last. */
  nextCursor: string | null;
}

/** A record to create, or to find and update when the CRM has it already: by `key`, the value of its unique field. */
export interface RecordToCreate {
  key: string;
  properties: Record<string, string>;
}

export interface RecordToUpdate {
  externalId: string;
  properties: Record<string, string>;
}

/**
 * What the sync needs of a CRM, for one integration (its account and token). Creating is idempotent: a record the CRM
 * has already (made by an attempt whose answer was lost) is matched by its unique field, never made twice.
 */
export interface CrmAdapter {
  /** The CRM's field names of a kind of record, to check mappings against. */
  fields(objectType: CrmObjectType): Promise<Set<string>>;
  /** The field that identifies a record for idempotent creation (HubSpot contacts: email). */
  uniqueField(objectType: CrmObjectType): string;
  /** A page of records changed at or after `since` (all, when null), oldest change first, from `cursor`. */
  listChanged(objectType: CrmObjectType, since: Date | null, cursor: string | null, properties: readonly string[]): Promise<ChangedPage>;
  /** Creates the records the CRM does not have yet and updates those it has, by key; the results by key. */
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
