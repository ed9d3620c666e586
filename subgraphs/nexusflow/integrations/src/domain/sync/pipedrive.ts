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
  retryAfterMs,
  ProviderHttp,
  textOf,
  type FailureVerdict,
  type ProviderFailure,
  type ProviderHttpOptions,
} from './provider-http.ts';

/** The deal field (a text custom field, by its name) that holds NexusFlow's id of a deal, for idempotent creation. */
export const PIPEDRIVE_NEXUSFLOW_ID_FIELD = 'NexusFlow ID';
/** A person's organization's name: read through `org_id`, not written (that would mean choosing an organization). */
const ORG_NAME = 'org_name';
/** Pipedrive's v2 lists take at most 500 a page. */
const MAX_PAGE = 500;
const FIELDS_PAGE = 500;
/** Custom fields are keyed by a 40-digit hash; the rest are Pipedrive's own fields. */
const CUSTOM_FIELD_KEY = /^[0-9a-f]{40}$/;
const NUMERIC_FIELDS = new Set(['value', 'stage_id', 'pipeline_id', 'owner_id', 'probability']);

interface PipedriveObject {
  /** The v2 path and the v1 field catalogue. */
  path: 'persons' | 'organizations' | 'deals';
  fieldsPath: 'personFields' | 'organizationFields' | 'dealFields';
  creationKey: CreationKey;
  /** The field searched for the creation key. */
  searchField: 'email' | 'name' | 'custom_fields';
  defaults: readonly FieldMappingEntry[];
}

const OBJECTS: Record<string, PipedriveObject> = {
  CONTACT: {
    path: 'persons',
    fieldsPath: 'personFields',
    creationKey: { property: 'email', source: 'MAPPED' },
    searchField: 'email',
    defaults: [
      plainMapping('email', 'email'),
      plainMapping('first_name', 'firstName'),
      plainMapping('last_name', 'lastName'),
      plainMapping('phone', 'phone'),
      { ...plainMapping(ORG_NAME, 'company'), direction: 'INBOUND' },
    ],
  },
  COMPANY: {
    path: 'organizations',
    fieldsPath: 'organizationFields',
    creationKey: { property: 'name', source: 'MAPPED' },
    searchField: 'name',
    // Pipedrive's organizations have no phone field of their own.
    defaults: [plainMapping('name', 'name'), plainMapping('website', 'domain'), plainMapping('industry', 'industry')],
  },
  DEAL: {
    path: 'deals',
    fieldsPath: 'dealFields',
    creationKey: { property: PIPEDRIVE_NEXUSFLOW_ID_FIELD, source: 'NEXUSFLOW_ID' },
    searchField: 'custom_fields',
    defaults: [
      plainMapping('title', 'name'),
      plainMapping('value', 'amount'),
      plainMapping('currency', 'currency'),
      plainMapping('stage_id', 'stage'),
      plainMapping('expected_close_date', 'closeDate'),
    ],
  },
};

function objectOf(objectType: CrmObjectType): PipedriveObject {
  const object = OBJECTS[objectType];
  if (!object) throw new ProviderRequestError(`Pipedrive does not sync ${String(objectType).toLowerCase()} records`, false);
  return object;
}

interface ContactDetail {
  value: string;
  primary: boolean;
  label?: string;
}

/** A person, organization or deal as API v2 has it. */
interface PipedriveItem {
  id: number;
  update_time: string;
  org_id?: number | null;
  emails?: ContactDetail[];
  phones?: ContactDetail[];
  custom_fields?: Record<string, unknown>;
  [field: string]: unknown;
}

interface Envelope<T> {
  success: boolean;
  data: T;
  additional_data?: { next_cursor?: string | null; pagination?: { more_items_in_collection: boolean; next_start?: number } };
}

interface FieldDefinition {
  key: string;
  name: string;
}

export interface PipedriveOptions extends Omit<ProviderHttpOptions, 'provider' | 'judge'> {
  /** Where the account's API is (see `apiOrigin` in provider-http.ts); asked on each request, so that an adapter can be made without it. */
  apiOrigin: () => string;
  pageSize: number;
}

/**
 * How long Pipedrive asks to be left alone after a 429: `Retry-After`, else the rest of its 2-second window
 * (`x-ratelimit-reset`, seconds) once `x-ratelimit-remaining` is spent, else an exponential pause.
 */
export function pipedriveVerdict(failure: ProviderFailure): FailureVerdict | undefined {
  if (failure.status !== 429) return undefined;
  const reset = Number(failure.headers.get('x-ratelimit-reset'));
  const windowLeft = failure.headers.get('x-ratelimit-remaining') === '0' && reset > 0 ? reset * 1000 : undefined;
  return { kind: 'wait', delayMs: retryAfterMs(failure.headers) ?? windowLeft ?? backoffMs(failure.attempt) };
}

const primaryOf = (details: readonly ContactDetail[] | undefined) =>
  (details?.find((detail) => detail.primary) ?? details?.[0])?.value || null;

/** Monetary custom fields are {value, currency}; options and people {value, …}: their value is what maps. */
const asText = (value: unknown): string | null =>
  value !== null && typeof value === 'object' && 'value' in value ? textOf(value.value) : textOf(value);

/**
 * Pipedrive's API for persons, organizations and deals: the v1 field catalogues (`start`/`limit` paging), the v2
 * lists sorted by `update_time` from `updated_since` on (cursor paging), and v2 writes one record at a time. Pipedrive
 * has no upsert, so creating first searches for the record by its creation key (a person's email, an organization's
 * name, a deal's "NexusFlow ID" field), exactly, and updates what it finds. Emails and phones are lists of
 * `{value, primary}`: the primary one maps. A deal's company is its `org_id`.
 */
export class PipedriveAdapter implements CrmAdapter {
  private readonly http: ProviderHttp;
  private readonly catalogues = new Map<string, Promise<FieldDefinition[]>>();

  constructor(private readonly options: PipedriveOptions) {
    this.http = new ProviderHttp({ ...options, provider: 'Pipedrive', judge: pipedriveVerdict });
  }

  defaultMappings(objectType: CrmObjectType): readonly FieldMappingEntry[] {
    return objectOf(objectType).defaults;
  }

  creationKey(objectType: CrmObjectType): CreationKey {
    return objectOf(objectType).creationKey;
  }

  async fields(objectType: CrmObjectType): Promise<Set<string>> {
    const keys = new Set((await this.catalogue(objectType)).map((field) => field.key));
    if (objectType === 'CONTACT') keys.add(ORG_NAME);
    return keys;
  }

  async listChanged(
    objectType: CrmObjectType,
    since: Date | null,
    cursor: string | null,
    properties: readonly string[],
  ): Promise<ChangedPage> {
    const { path } = objectOf(objectType);
    const query = new URLSearchParams({
      limit: String(Math.min(this.options.pageSize, MAX_PAGE)),
      sort_by: 'update_time',
      sort_direction: 'asc',
    });
    // Pipedrive keeps whole seconds: the second of the mark is read again, and what was seen already is skipped.
    if (since !== null) query.set('updated_since', `${since.toISOString().slice(0, 19)}Z`);
    if (cursor !== null) query.set('cursor', cursor);
    const page = await this.http.json<Envelope<PipedriveItem[] | null>>('GET', this.url(`/api/v2/${path}?${query}`));
    const items = page.data ?? [];
    const organizations = properties.includes(ORG_NAME) ? await this.organizationNames(items) : new Map<number, string>();
    return {
      records: items.map((item) => this.recordOf(objectType, item, properties, organizations)),
      nextCursor: page.additional_data?.next_cursor ?? null,
    };
  }

  async createOrMatch(objectType: CrmObjectType, records: readonly RecordToCreate[]): Promise<Map<string, ProviderRecord>> {
    const { path, searchField } = objectOf(objectType);
    const keyField = objectType === 'DEAL' ? await this.nexusflowIdKey() : null;
    const found = new Map<string, ProviderRecord>();
    for (const record of records) {
      const query = new URLSearchParams({ term: record.key, fields: searchField, exact_match: 'true', limit: '1' });
      const search = await this.http.json<Envelope<{ items: { item: { id: number } }[] }>>(
        'GET',
        this.url(`/api/v2/${path}/search?${query}`),
      );
      const existing = search.data.items[0]?.item.id;
      const body = await this.bodyOf(objectType, record.properties, record.companyExternalId);
      if (keyField !== null) body.custom_fields = { ...(body.custom_fields as object), [keyField]: record.key };
      const answer =
        existing === undefined
          ? await this.http.json<Envelope<PipedriveItem>>('POST', this.url(`/api/v2/${path}`), body)
          : await this.http.json<Envelope<PipedriveItem>>('PATCH', this.url(`/api/v2/${path}/${existing}`), body);
      found.set(record.key.toLowerCase(), this.written(objectType, answer.data, record.properties));
    }
    return found;
  }

  async update(objectType: CrmObjectType, records: readonly RecordToUpdate[]): Promise<Map<string, ProviderRecord>> {
    const { path } = objectOf(objectType);
    const found = new Map<string, ProviderRecord>();
    for (const record of records) {
      const body = await this.bodyOf(objectType, record.properties, record.companyExternalId);
      const answer = await this.http.json<Envelope<PipedriveItem>>('PATCH', this.url(`/api/v2/${path}/${record.externalId}`), body);
      found.set(String(answer.data.id), this.written(objectType, answer.data, record.properties));
    }
    return found;
  }

  private url(path: string): URL {
    return new URL(path, this.options.apiOrigin());
  }

  private catalogue(objectType: CrmObjectType): Promise<FieldDefinition[]> {
    const { fieldsPath } = objectOf(objectType);
    let fields = this.catalogues.get(fieldsPath);
    if (!fields) {
      fields = (async () => {
        const all: FieldDefinition[] = [];
        for (let start: number | undefined = 0; start !== undefined;) {
          const page: Envelope<FieldDefinition[] | null> = await this.http.json(
            'GET',
            this.url(`/v1/${fieldsPath}?start=${start}&limit=${FIELDS_PAGE}`),
          );
          all.push(...(page.data ?? []));
          const pagination = page.additional_data?.pagination;
          start = pagination?.more_items_in_collection ? pagination.next_start : undefined;
        }
        return all;
      })();
      fields.catch(() => this.catalogues.delete(fieldsPath));
      this.catalogues.set(fieldsPath, fields);
    }
    return fields;
  }

  /** The key (a hash) of the deal field named "NexusFlow ID"; the company must add it for deals to be created safely. */
  private async nexusflowIdKey(): Promise<string> {
    const field = (await this.catalogue('DEAL')).find((candidate) => candidate.name === PIPEDRIVE_NEXUSFLOW_ID_FIELD);
    if (!field) {
      throw new ProviderRequestError(
        `Pipedrive has no deal field "${PIPEDRIVE_NEXUSFLOW_ID_FIELD}": add a text field so named for deals to sync to Pipedrive`,
        false,
      );
    }
    return field.key;
  }

  /** The names of the organizations of a page of persons, by id, in one request. */
  private async organizationNames(items: readonly PipedriveItem[]): Promise<Map<number, string>> {
    const ids = [...new Set(items.map((item) => item.org_id).filter((id): id is number => typeof id === 'number'))];
    if (ids.length === 0) return new Map();
    const answer = await this.http.json<Envelope<{ id: number; name: string }[] | null>>(
      'GET',
      this.url(`/api/v2/organizations?${new URLSearchParams({ ids: ids.join(','), limit: String(MAX_PAGE) })}`),
    );
    return new Map((answer.data ?? []).map((organization) => [organization.id, organization.name]));
  }

  private recordOf(
    objectType: CrmObjectType,
    item: PipedriveItem,
    properties: readonly string[],
    organizations: ReadonlyMap<number, string>,
  ): ProviderRecord {
    const valueOf = (name: string): string | null => {
      if (name === 'email') return primaryOf(item.emails);
      if (name === 'phone') return primaryOf(item.phones);
      if (name === ORG_NAME) return typeof item.org_id === 'number' ? (organizations.get(item.org_id) ?? null) : null;
      if (item.custom_fields && name in item.custom_fields) return asText(item.custom_fields[name]);
      return asText(item[name]);
    };
    return {
      externalId: String(item.id),
      properties: Object.fromEntries(properties.map((name) => [name, valueOf(name)])),
      updatedAt: new Date(item.update_time),
      ...(objectType === 'DEAL' ? { companyExternalId: item.org_id == null ? null : String(item.org_id) } : {}),
    };
  }

  private written(objectType: CrmObjectType, item: PipedriveItem, sent: Readonly<Record<string, string>>): ProviderRecord {
    return {
      externalId: String(item.id),
      properties: { ...sent },
      updatedAt: new Date(item.update_time),
      ...(objectType === 'DEAL' ? { companyExternalId: item.org_id == null ? null : String(item.org_id) } : {}),
    };
  }

  /**
   * A v2 body: email and phone as the primary entry of their lists, custom fields (hash keys) under `custom_fields`,
   * numbers as numbers. A person's `name` is made of its first and last names when no mapping sets it, as Pipedrive
   * derives those two from it.
   */
  private async bodyOf(
    objectType: CrmObjectType,
    properties: Readonly<Record<string, string>>,
    companyExternalId: string | null | undefined,
  ): Promise<Record<string, unknown>> {
    const known = await this.fields(objectType);
    const body: Record<string, unknown> = {};
    const custom: Record<string, unknown> = {};
    const names: string[] = [];
    for (const [name, raw] of Object.entries(properties)) {
      const value = raw === '' ? null : raw;
      if (name === ORG_NAME || !known.has(name)) continue;
      if (name === 'email' || name === 'phone') body[`${name}s`] = value === null ? [] : [{ value, primary: true, label: 'work' }];
      else if (objectType === 'CONTACT' && (name === 'first_name' || name === 'last_name'))
        names[name === 'first_name' ? 0 : 1] = value ?? '';
      else if (CUSTOM_FIELD_KEY.test(name)) custom[name] = value;
      else body[name] = value !== null && NUMERIC_FIELDS.has(name) && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    }
    if (objectType === 'CONTACT' && body.name === undefined) {
      const name = names.filter(Boolean).join(' ').trim();
      if (name !== '') body.name = name;
      else if (typeof properties.email === 'string' && properties.email !== '') body.name = properties.email;
    }
    if (Object.keys(custom).length > 0) body.custom_fields = custom;
    if (objectType === 'DEAL' && companyExternalId !== undefined)
      body.org_id = companyExternalId === null ? null : Number(companyExternalId);
    return body;
  }
}
