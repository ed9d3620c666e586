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
  nullIfEmpty,
  retryAfterMs,
  ProviderHttp,
  textOf,
  type FailureVerdict,
  type ProviderFailure,
  type ProviderHttpOptions,
} from './provider-http.ts';

/** The custom field (unique) that holds NexusFlow's id of a deal: deals have no natural duplicate-check field. */
export const ZOHO_NEXUSFLOW_ID_FIELD = 'NexusFlow_Id';
/** Zoho's record lists give at most 200 a page; its writes take at most 100 records. */
const MAX_PAGE = 200;
const WRITE_LIMIT = 100;
/** A lookup (`Account_Name`): the name maps, the id is the link. */
const ACCOUNT_LOOKUP = 'Account_Name';

interface ZohoModule {
  module: 'Contacts' | 'Accounts' | 'Deals';
  creationKey: CreationKey;
  defaults: readonly FieldMappingEntry[];
}

const OBJECTS: Record<string, ZohoModule> = {
  CONTACT: {
    module: 'Contacts',
    creationKey: { property: 'Email', source: 'MAPPED' },
    defaults: [
      plainMapping('Email', 'email'),
      plainMapping('First_Name', 'firstName'),
      plainMapping('Last_Name', 'lastName'),
      plainMapping('Phone', 'phone'),
      // A lookup to an account: read by its name, not written (that would mean choosing an account).
      { ...plainMapping(ACCOUNT_LOOKUP, 'company'), direction: 'INBOUND' },
    ],
  },
  COMPANY: {
    module: 'Accounts',
    // Zoho's own duplicate check of accounts.
    creationKey: { property: 'Account_Name', source: 'MAPPED' },
    defaults: [
      plainMapping('Account_Name', 'name'),
      plainMapping('Website', 'domain'),
      plainMapping('Industry', 'industry'),
      plainMapping('Phone', 'phone'),
    ],
  },
  DEAL: {
    module: 'Deals',
    creationKey: { property: ZOHO_NEXUSFLOW_ID_FIELD, source: 'NEXUSFLOW_ID' },
    defaults: [
      plainMapping('Deal_Name', 'name'),
      plainMapping('Amount', 'amount'),
      // Only organisations with multiple currencies have it; where the field list lacks it, it is left out.
      plainMapping('Currency', 'currency'),
      plainMapping('Stage', 'stage'),
      plainMapping('Closing_Date', 'closeDate'),
    ],
  },
};

function moduleOf(objectType: CrmObjectType): ZohoModule {
  const module = OBJECTS[objectType];
  if (!module) throw new ProviderRequestError(`Zoho CRM does not sync ${String(objectType).toLowerCase()} records`, false);
  return module;
}

interface ZohoRecord {
  id: string;
  Modified_Time: string;
  [field: string]: unknown;
}

interface ZohoList {
  data: ZohoRecord[];
  info: { per_page: number; count: number; page: number; more_records: boolean };
}

interface ZohoWriteResult {
  code: string;
  status: 'success' | 'error';
  message: string;
  action?: 'insert' | 'update';
  duplicate_field?: string | null;
  details: { id?: string; Modified_Time?: string; api_name?: string; [detail: string]: unknown };
}

export interface ZohoOptions extends Omit<ProviderHttpOptions, 'provider' | 'judge' | 'authorization'> {
  /** Where the account's API is (see `apiOrigin` in provider-http.ts); asked on each request, so that an adapter can be made without it. */
  apiOrigin: () => string;
  pageSize: number;
}

/**
 * What Zoho's refusals mean: `INVALID_TOKEN` (401) is refreshed; a 429 (`TOO_MANY_REQUESTS`) waits `Retry-After`,
 * else until `X-RATELIMIT-RESET` (epoch milliseconds) once `X-RATELIMIT-REMAINING` is spent, else an exponential pause;
 * other errors fail with Zoho's `code` and `message`.
 */
export function zohoVerdict(failure: ProviderFailure): FailureVerdict | undefined {
  if (failure.status === 401) return { kind: 'refresh' };
  if (failure.status === 429) {
    const stated = Number(failure.headers.get('x-ratelimit-reset'));
    // Epoch milliseconds as documented; a value in seconds is read as such.
    const reset = stated > 0 && stated < 1e12 ? stated * 1000 : stated;
    const untilReset = failure.headers.get('x-ratelimit-remaining') === '0' && reset > 0 ? Math.max(reset - Date.now(), 0) : undefined;
    return { kind: 'wait', delayMs: retryAfterMs(failure.headers) ?? untilReset ?? backoffMs(failure.attempt) };
  }
  const body = failure.body as { code?: unknown; message?: unknown } | null;
  if (body && typeof body.code === 'string') {
    return {
      kind: 'fail',
      message: `${body.code}: ${typeof body.message === 'string' ? body.message : ''}`,
      retryable: failure.status >= 500,
    };
  }
  return undefined;
}

/** Zoho's `If-Modified-Since` takes ISO 8601 with an offset, whole seconds. */
const modifiedSince = (since: Date) => `${since.toISOString().slice(0, 19)}+00:00`;

/** A lookup is {name, id}: its name is what maps. */
const asText = (value: unknown): string | null =>
  value !== null && typeof value === 'object' && 'name' in value ? textOf(value.name) : textOf(value);

/**
 * Zoho CRM's REST API (v2) for Contacts, Accounts and Deals, on the data centre's `api_domain`, with Zoho's
 * `Zoho-oauthtoken` scheme: the fields settings for the catalogue, record lists sorted by `Modified_Time` with
 * `If-Modified-Since` (page and `info.more_records` paging; 304 or 204 when nothing changed), `upsert` with
 * `duplicate_check_fields` for idempotent creation, and `PUT` by id for updates. A deal's company is its `Account_Name`
 * lookup.
 */
export class ZohoAdapter implements CrmAdapter {
  private readonly http: ProviderHttp;
  private readonly catalogues = new Map<string, Promise<Set<string>>>();

  constructor(private readonly options: ZohoOptions) {
    this.http = new ProviderHttp({
      ...options,
      provider: 'Zoho CRM',
      judge: zohoVerdict,
      authorization: (token) => `Zoho-oauthtoken ${token}`,
    });
  }

  defaultMappings(objectType: CrmObjectType): readonly FieldMappingEntry[] {
    return moduleOf(objectType).defaults;
  }

  creationKey(objectType: CrmObjectType): CreationKey {
    return moduleOf(objectType).creationKey;
  }

  fields(objectType: CrmObjectType): Promise<Set<string>> {
    const { module } = moduleOf(objectType);
    let fields = this.catalogues.get(module);
    if (!fields) {
      fields = this.http
        .json<{ fields: { api_name: string }[] }>('GET', this.url(`/crm/v2/settings/fields?module=${module}`))
        .then((answer) => new Set(answer.fields.map((field) => field.api_name)));
      fields.catch(() => this.catalogues.delete(module));
      this.catalogues.set(module, fields);
    }
    return fields;
  }

  async listChanged(
    objectType: CrmObjectType,
    since: Date | null,
    cursor: string | null,
    properties: readonly string[],
  ): Promise<ChangedPage> {
    const { module } = moduleOf(objectType);
    const known = await this.fields(objectType);
    const selected = new Set(['Modified_Time', ...properties.filter((name) => known.has(name))]);
    if (objectType === 'DEAL') selected.add(ACCOUNT_LOOKUP);
    const page = Number(cursor ?? 1);
    const query = new URLSearchParams({
      fields: [...selected].join(','),
      page: String(page),
      per_page: String(Math.min(this.options.pageSize, MAX_PAGE)),
      sort_by: 'Modified_Time',
      sort_order: 'asc',
    });
    // Zoho answers records modified after the time, in whole seconds: a second earlier keeps the mark's own second.
    const headers = since === null ? undefined : { 'if-modified-since': modifiedSince(new Date(since.getTime() - 1000)) };
    const answer = await this.http.send<ZohoList>('GET', this.url(`/crm/v2/${module}?${query}`), undefined, headers);
    // 304: nothing modified since; 204: no records at all.
    if (answer.body === null) return { records: [], nextCursor: null };
    return {
      records: answer.body.data.map((record) => this.recordOf(objectType, record, properties)),
      nextCursor: answer.body.info.more_records ? String(page + 1) : null,
    };
  }

  async createOrMatch(objectType: CrmObjectType, records: readonly RecordToCreate[]): Promise<Map<string, ProviderRecord>> {
    const { module, creationKey } = moduleOf(objectType);
    const found = new Map<string, ProviderRecord>();
    for (const batch of chunks(records, WRITE_LIMIT)) {
      const data = await Promise.all(
        batch.map(async (record) => ({
          ...(await this.writable(objectType, record.properties, record.companyExternalId)),
          ...(creationKey.source === 'NEXUSFLOW_ID' ? { [creationKey.property]: record.key } : {}),
        })),
      );
      const answer = await this.http.json<{ data: ZohoWriteResult[] }>('POST', this.url(`/crm/v2/${module}/upsert`), {
        data,
        duplicate_check_fields: [creationKey.property],
      });
      batch.forEach((record, index) => {
        const written = this.written(objectType, answer.data[index], record.properties, record.companyExternalId);
        found.set(record.key.toLowerCase(), written);
      });
    }
    return found;
  }

  async update(objectType: CrmObjectType, records: readonly RecordToUpdate[]): Promise<Map<string, ProviderRecord>> {
    const { module } = moduleOf(objectType);
    const found = new Map<string, ProviderRecord>();
    for (const batch of chunks(records, WRITE_LIMIT)) {
      const data = await Promise.all(
        batch.map(async (record) => ({
          id: record.externalId,
          ...(await this.writable(objectType, record.properties, record.companyExternalId)),
        })),
      );
      const answer = await this.http.json<{ data: ZohoWriteResult[] }>('PUT', this.url(`/crm/v2/${module}`), { data });
      batch.forEach((record, index) => {
        const written = this.written(objectType, answer.data[index], record.properties, record.companyExternalId);
        found.set(written.externalId, written);
      });
    }
    return found;
  }

  private url(path: string): URL {
    return new URL(path, this.options.apiOrigin());
  }

  private recordOf(objectType: CrmObjectType, record: ZohoRecord, properties: readonly string[]): ProviderRecord {
    const lookup = record[ACCOUNT_LOOKUP] as { id?: unknown } | null | undefined;
    return {
      externalId: record.id,
      properties: Object.fromEntries(properties.map((name) => [name, asText(record[name])])),
      updatedAt: new Date(record.Modified_Time),
      ...(objectType === 'DEAL' ? { companyExternalId: typeof lookup?.id === 'string' ? lookup.id : null } : {}),
    };
  }

  /** The fields the module has and takes; a deal's company as its `Account_Name` lookup by id. */
  private async writable(
    objectType: CrmObjectType,
    properties: Readonly<Record<string, string>>,
    companyExternalId: string | null | undefined,
  ): Promise<Record<string, unknown>> {
    const known = await this.fields(objectType);
    const lookupIsName = objectType === 'CONTACT' || objectType === 'DEAL';
    const values: Record<string, unknown> = nullIfEmpty(
      Object.fromEntries(Object.entries(properties).filter(([name]) => known.has(name) && !(lookupIsName && name === ACCOUNT_LOOKUP))),
    );
    if (objectType === 'DEAL' && companyExternalId !== undefined)
      values[ACCOUNT_LOOKUP] = companyExternalId === null ? null : { id: companyExternalId };
    return values;
  }

  /** A record as Zoho's write answered it; a refused one fails the page in Zoho's words. */
  private written(
    objectType: CrmObjectType,
    result: ZohoWriteResult | undefined,
    sent: Readonly<Record<string, string>>,
    companyExternalId: string | null | undefined,
  ): ProviderRecord {
    if (!result || result.status !== 'success' || !result.details.id || !result.details.Modified_Time) {
      const field = typeof result?.details.api_name === 'string' ? ` (${result.details.api_name})` : '';
      throw new ProviderRequestError(
        `Zoho CRM refused a record: ${result ? `${result.code}: ${result.message}${field}` : 'no answer for it'}`,
        false,
      );
    }
    return {
      externalId: result.details.id,
      properties: { ...sent },
      updatedAt: new Date(result.details.Modified_Time),
      ...(objectType === 'DEAL' && companyExternalId !== undefined ? { companyExternalId } : {}),
    };
  }
}
