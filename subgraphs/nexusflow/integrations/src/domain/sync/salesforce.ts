import {
  ProviderRequestError,
  type ChangedPage,
  type CreationKey,
  type CrmAdapter,
  type ProviderRecord,
  type RecordToCreate,
  type RecordToUpdate,
} from './adapter.ts';
import { plainMapping, type CrmObjectType, type FieldMappingEntry } from './mappings.ts';
import {
  backoffMs,
  chunks,
  messageOf,
  nullIfEmpty,
  ProviderHttp,
  textOf,
  type FailureVerdict,
  type ProviderFailure,
  type ProviderHttpOptions,
} from './provider-http.ts';

export const SALESFORCE_API_VERSION = 'v60.0';
/**
 * The custom text field (External ID, Unique) each synced object needs in the org, holding NexusFlow's id of the
 * record: sObject Collections upsert only by an external-id field, and no standard field of these objects is one.
 */
export const SALESFORCE_EXTERNAL_ID_FIELD = 'NexusFlow_Id__c';
/** sObject Collections take at most 200 records a request. */
const COLLECTION_LIMIT = 200;
/** Salesforce's smallest query batch; it may answer with larger ones. */
const MIN_QUERY_BATCH = 200;
const SOQL_FIELD = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$/;

interface SalesforceObject {
  sObject: 'Contact' | 'Account' | 'Opportunity';
  defaults: readonly FieldMappingEntry[];
}

/** Company names of a contact or a deal are read through the lookup to its account; writing one would mean choosing an account. */
const inboundOnly = (source: string, target: string): FieldMappingEntry => ({ ...plainMapping(source, target), direction: 'INBOUND' });

const OBJECTS: Record<string, SalesforceObject> = {
  CONTACT: {
    sObject: 'Contact',
    defaults: [
      plainMapping('Email', 'email'),
      plainMapping('FirstName', 'firstName'),
      plainMapping('LastName', 'lastName'),
      plainMapping('Phone', 'phone'),
      inboundOnly('Account.Name', 'company'),
    ],
  },
  COMPANY: {
    sObject: 'Account',
    defaults: [
      plainMapping('Name', 'name'),
      plainMapping('Website', 'domain'),
      plainMapping('Industry', 'industry'),
      plainMapping('Phone', 'phone'),
    ],
  },
  DEAL: {
    sObject: 'Opportunity',
    defaults: [
      plainMapping('Name', 'name'),
      plainMapping('Amount', 'amount'),
      // Only orgs with multiple currencies have it; where the describe lacks it, it is left out.
      plainMapping('CurrencyIsoCode', 'currency'),
      plainMapping('StageName', 'stage'),
      plainMapping('CloseDate', 'closeDate'),
    ],
  },
};

function objectOf(objectType: CrmObjectType): SalesforceObject {
  const object = OBJECTS[objectType];
  if (!object) throw new ProviderRequestError(`Salesforce does not sync ${String(objectType).toLowerCase()} records`, false);
  return object;
}

type SalesforceValue = string | number | boolean | null | { [field: string]: SalesforceValue };

interface SalesforceRecord {
  attributes: { type: string; url: string };
  Id: string;
  SystemModstamp: string;
  [field: string]: SalesforceValue | SalesforceRecord['attributes'];
}

interface QueryPage {
  totalSize: number;
  done: boolean;
  records: SalesforceRecord[];
  nextRecordsUrl?: string;
}

interface SaveResult {
  id: string | null;
  success: boolean;
  errors: { statusCode: string; message: string; fields: string[] }[];
  created?: boolean;
}

interface DescribeResult {
  fields: { name: string; relationshipName: string | null; externalId: boolean }[];
}

export interface SalesforceOptions extends Omit<ProviderHttpOptions, 'provider' | 'judge'> {
  /** Where the account's API is (see `apiOrigin` in provider-http.ts); asked on each request, so that an adapter can be made without it. */
  apiOrigin: () => string;
  pageSize: number;
}

/** A value of a record by its path (`Account.Name` through the lookup), as the sync's strings. */
function valueAt(record: SalesforceRecord, path: string): string | null {
  let value: unknown = record;
  for (const part of path.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : null;
  return textOf(value);
}

/**
 * What Salesforce's refusals mean: an expired session (401 `INVALID_SESSION_ID`) is refreshed; the daily API limit
 * (403 `REQUEST_LIMIT_EXCEEDED`, "TotalRequests") is not retried, since it lifts only as the 24 hours roll on, and the
 * message says how much was used (`Sforce-Limit-Info`); the concurrent-request limits under the same code lift within
 * seconds and are waited out.
 */
export function salesforceVerdict(failure: ProviderFailure): FailureVerdict | undefined {
  const first = Array.isArray(failure.body) ? (failure.body[0] as { errorCode?: string; message?: string } | undefined) : undefined;
  if (failure.status === 401) return { kind: 'refresh' };
  if (first?.errorCode === 'REQUEST_LIMIT_EXCEEDED') {
    if (/concurrent/i.test(first.message ?? '')) return { kind: 'wait', delayMs: backoffMs(failure.attempt) };
    const usage = /api-usage=(\d+\/\d+)/.exec(failure.headers.get('sforce-limit-info') ?? '')?.[1];
    return {
      kind: 'fail',
      message: `${first.message ?? 'REQUEST_LIMIT_EXCEEDED'}${usage ? ` (API requests used today: ${usage})` : ''}`,
      retryable: false,
    };
  }
  if (first?.errorCode) return { kind: 'fail', message: `${first.errorCode}: ${first.message ?? ''}`, retryable: failure.status >= 500 };
  return undefined;
}

/**
 * Salesforce's REST API (v60.0) for Contact, Account and Opportunity: the describe for the field catalogue, a SOQL
 * query ordered by `SystemModstamp` (from the last sync's high-water mark on) paged by `nextRecordsUrl`, and sObject
 * Collections for writes: upsert by the external-id field {@link SALESFORCE_EXTERNAL_ID_FIELD} for idempotent creation,
 * update by id, and retrieve for the new `SystemModstamp`s. A deal's company is the opportunity's `AccountId`.
 */
export class SalesforceAdapter implements CrmAdapter {
  private readonly http: ProviderHttp;
  private readonly described = new Map<string, Promise<Set<string>>>();

  constructor(private readonly options: SalesforceOptions) {
    this.http = new ProviderHttp({ ...options, provider: 'Salesforce', judge: salesforceVerdict });
  }

  defaultMappings(objectType: CrmObjectType): readonly FieldMappingEntry[] {
    return objectOf(objectType).defaults;
  }

  creationKey(): CreationKey {
    return { property: SALESFORCE_EXTERNAL_ID_FIELD, source: 'NEXUSFLOW_ID' };
  }

  /** The object's fields, and `<relationship>.Name` for each lookup (`Account.Name`), as SOQL reads them. */
  fields(objectType: CrmObjectType): Promise<Set<string>> {
    const { sObject } = objectOf(objectType);
    let fields = this.described.get(sObject);
    if (!fields) {
      fields = this.http
        .json<DescribeResult>('GET', this.url(`/sobjects/${sObject}/describe`))
        .then(
          (describe) =>
            new Set(
              describe.fields.flatMap((field) => (field.relationshipName ? [field.name, `${field.relationshipName}.Name`] : [field.name])),
            ),
        );
      fields.catch(() => this.described.delete(sObject));
      this.described.set(sObject, fields);
    }
    return fields;
  }

  async listChanged(
    objectType: CrmObjectType,
    since: Date | null,
    cursor: string | null,
    properties: readonly string[],
  ): Promise<ChangedPage> {
    let page: QueryPage;
    if (cursor !== null) {
      const next = new URL(cursor, this.options.apiOrigin());
      // The token goes only to the instance's own query locators, whatever a stored cursor says.
      if (next.origin !== this.options.apiOrigin() || !next.pathname.startsWith(`/services/data/${SALESFORCE_API_VERSION}/query/`)) {
        throw new ProviderRequestError(`"${cursor}" is not a Salesforce query locator of this org`, false);
      }
      page = await this.http.json<QueryPage>('GET', next);
    } else {
      const { sObject } = objectOf(objectType);
      const known = await this.fields(objectType);
      const selected = new Set(['Id', 'SystemModstamp', ...properties.filter((name) => known.has(name))]);
      if (objectType === 'DEAL') selected.add('AccountId');
      for (const name of selected) {
        if (!SOQL_FIELD.test(name)) throw new ProviderRequestError(`"${name}" is not a Salesforce field name`, false);
      }
      // SOQL takes datetimes unquoted, in whole seconds: the mark's own second is read again, and what was seen is skipped.
      const where = since === null ? '' : ` WHERE SystemModstamp >= ${since.toISOString().slice(0, 19)}Z`;
      const soql = `SELECT ${[...selected].join(', ')} FROM ${sObject}${where} ORDER BY SystemModstamp ASC, Id ASC`;
      const url = this.url(`/query?${new URLSearchParams({ q: soql })}`);
      page = await this.http.json<QueryPage>('GET', url, undefined, {
        'sforce-query-options': `batchSize=${Math.max(this.options.pageSize, MIN_QUERY_BATCH)}`,
      });
    }
    const records = page.records.map((record) => this.recordOf(objectType, record, properties));
    return { records, nextCursor: page.done ? null : (page.nextRecordsUrl ?? null) };
  }

  async createOrMatch(objectType: CrmObjectType, records: readonly RecordToCreate[]): Promise<Map<string, ProviderRecord>> {
    const { sObject } = objectOf(objectType);
    const found = new Map<string, ProviderRecord>();
    for (const batch of chunks(records, COLLECTION_LIMIT)) {
      const results = await this.http.json<SaveResult[]>(
        'PATCH',
        this.url(`/composite/sobjects/${sObject}/${SALESFORCE_EXTERNAL_ID_FIELD}`),
        {
          allOrNone: false,
          records: await Promise.all(
            batch.map(async (record) => ({
              attributes: { type: sObject },
              ...(await this.writable(objectType, record.properties)),
              ...this.companyOf(objectType, record.companyExternalId),
              [SALESFORCE_EXTERNAL_ID_FIELD]: record.key,
            })),
          ),
        },
      );
      const saved = await this.saved(objectType, batch, results);
      batch.forEach((record, index) => {
        const result = saved[index];
        if (result) found.set(record.key.toLowerCase(), result);
      });
    }
    return found;
  }

  async update(objectType: CrmObjectType, records: readonly RecordToUpdate[]): Promise<Map<string, ProviderRecord>> {
    const { sObject } = objectOf(objectType);
    const found = new Map<string, ProviderRecord>();
    for (const batch of chunks(records, COLLECTION_LIMIT)) {
      const results = await this.http.json<SaveResult[]>('PATCH', this.url('/composite/sobjects'), {
        allOrNone: false,
        records: await Promise.all(
          batch.map(async (record) => ({
            attributes: { type: sObject },
            id: record.externalId,
            ...(await this.writable(objectType, record.properties)),
            ...this.companyOf(objectType, record.companyExternalId),
          })),
        ),
      });
      const saved = await this.saved(objectType, batch, results);
      for (const result of saved) if (result) found.set(result.externalId, result);
    }
    return found;
  }

  private url(path: string): URL {
    return new URL(`/services/data/${SALESFORCE_API_VERSION}${path}`, this.options.apiOrigin());
  }

  private recordOf(objectType: CrmObjectType, record: SalesforceRecord, properties: readonly string[]): ProviderRecord {
    return {
      externalId: record.Id,
      properties: Object.fromEntries(properties.map((name) => [name, valueAt(record, name)])),
      updatedAt: new Date(record.SystemModstamp),
      ...(objectType === 'DEAL' ? { companyExternalId: valueAt(record, 'AccountId') } : {}),
    };
  }

  /** The fields the org has and takes in writes: lookups' names (`Account.Name`) are read only. */
  private async writable(objectType: CrmObjectType, properties: Readonly<Record<string, string>>): Promise<Record<string, string | null>> {
    const known = await this.fields(objectType);
    return nullIfEmpty(Object.fromEntries(Object.entries(properties).filter(([name]) => known.has(name) && !name.includes('.'))));
  }

  private companyOf(objectType: CrmObjectType, companyExternalId: string | null | undefined): Record<string, string | null> {
    return objectType === 'DEAL' && companyExternalId !== undefined ? { AccountId: companyExternalId } : {};
  }

  /**
   * The records written, in the order sent, with their new `SystemModstamp` (retrieved through sObject Collections, as
   * the save results carry none). A record Salesforce refused fails the page in its words: carrying on would leave it
   * unsynced without anyone knowing why.
   */
  private async saved(
    objectType: CrmObjectType,
    sent: readonly { properties: Readonly<Record<string, string>> }[],
    results: readonly SaveResult[],
  ): Promise<(ProviderRecord | undefined)[]> {
    const refused = results.find((result) => !result.success);
    if (refused) {
      const error = refused.errors[0];
      throw new ProviderRequestError(
        `Salesforce refused a record: ${error ? `${error.statusCode}: ${error.message}` : messageOf(refused, '')}`,
        false,
      );
    }
    const ids = results.map((result) => result.id!);
    const { sObject } = objectOf(objectType);
    const fields = ['Id', 'SystemModstamp', ...(objectType === 'DEAL' ? ['AccountId'] : [])];
    const current = await this.http.json<(SalesforceRecord | null)[]>(
      'GET',
      this.url(`/composite/sobjects/${sObject}?${new URLSearchParams({ ids: ids.join(','), fields: fields.join(',') })}`),
    );
    const byId = new Map(current.filter((record) => record !== null).map((record) => [record.Id, record]));
    return ids.map((id, index) => {
      const record = byId.get(id);
      if (!record) return undefined;
      return {
        externalId: id,
        properties: { ...sent[index]!.properties },
        updatedAt: new Date(record.SystemModstamp),
        ...(objectType === 'DEAL' ? { companyExternalId: valueAt(record, 'AccountId') } : {}),
      };
    });
  }
}
