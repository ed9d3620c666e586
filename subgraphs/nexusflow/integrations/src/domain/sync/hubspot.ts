import { endpointOn, type ProviderSettings } from '../providers.ts';
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
import { backoffMs, ProviderHttp, retryAfterMs, type TokenSource } from './provider-http.ts';

const OBJECTS: Record<CrmObjectType, string> = { CONTACT: 'contacts', COMPANY: 'companies', DEAL: 'deals' };
/**
 * The custom unique-value property (`hasUniqueValue`) each portal gets for NexusFlow's ids, the batch upsert's
 * `idProperty` for companies and deals: HubSpot upserts only by a unique-value property, and neither has a natural one
 * (a company's `domain` is not unique at HubSpot, a deal has nothing like it).
 */
export const NEXUSFLOW_ID_PROPERTY = 'nexusflow_id';
const CREATION_KEYS: Record<CrmObjectType, CreationKey> = {
  CONTACT: { property: 'email', source: 'MAPPED' },
  COMPANY: { property: NEXUSFLOW_ID_PROPERTY, source: 'NEXUSFLOW_ID' },
  DEAL: { property: NEXUSFLOW_ID_PROPERTY, source: 'NEXUSFLOW_ID' },
};
/** NexusFlow's standard fields in HubSpot's default properties. */
const DEFAULT_MAPPINGS: Record<CrmObjectType, readonly FieldMappingEntry[]> = {
  CONTACT: [
    plainMapping('email', 'email'),
    plainMapping('firstname', 'firstName'),
    plainMapping('lastname', 'lastName'),
    plainMapping('phone', 'phone'),
    plainMapping('company', 'company'),
  ],
  COMPANY: [
    plainMapping('name', 'name'),
    plainMapping('domain', 'domain'),
    plainMapping('industry', 'industry'),
    plainMapping('phone', 'phone'),
  ],
  DEAL: [
    plainMapping('dealname', 'name'),
    plainMapping('amount', 'amount'),
    plainMapping('deal_currency_code', 'currency'),
    plainMapping('dealstage', 'stage'),
    plainMapping('closedate', 'closeDate'),
  ],
};
/** The property group a custom property of each kind joins, HubSpot's own "information" group. */
const PROPERTY_GROUPS: Record<CrmObjectType, string> = {
  CONTACT: 'contactinformation',
  COMPANY: 'companyinformation',
  DEAL: 'dealinformation',
};
const MODIFIED = 'hs_lastmodifieddate';
/** HubSpot's batch endpoints take at most 100 inputs. */
const BATCH_LIMIT = 100;

export type { TokenSource } from './provider-http.ts';

export interface HubSpotOptions {
  settings: ProviderSettings;
  token: TokenSource;
  pageSize: number;
  timeoutMs: number;
  /** How many 429s in a row one request waits out before giving up (retryable) for a later attempt of the job. */
  maxRateLimitRetries: number;
  /** Waits that long; tests see the waits through it. */
  wait?: (ms: number) => Promise<void>;
}

interface HubSpotObject {
  id: string;
  properties: Record<string, string | null>;
  updatedAt: string;
}

interface HubSpotPage {
  results: HubSpotObject[];
  paging?: { next?: { after: string } };
}

const recordOf = (object: HubSpotObject): ProviderRecord => ({
  externalId: object.id,
  properties: object.properties,
  updatedAt: new Date(object.updatedAt),
});

/**
 * How long HubSpot asks to be left alone after a 429: `Retry-After` when it sends one, else the rest of its rolling
 * window (`X-HubSpot-RateLimit-Interval-Milliseconds`) when the window's allowance is spent, else an exponential pause.
 */
export function rateLimitDelayMs(headers: Headers, attempt: number): number {
  const retryAfter = retryAfterMs(headers);
  if (retryAfter !== undefined) return retryAfter;
  const interval = Number(headers.get('x-hubspot-ratelimit-interval-milliseconds'));
  const remaining = headers.get('x-hubspot-ratelimit-remaining') ?? headers.get('x-hubspot-ratelimit-secondly-remaining');
  if (Number.isFinite(interval) && interval > 0 && remaining === '0') return interval;
  if (remaining === '0' && headers.has('x-hubspot-ratelimit-secondly')) return 1000;
  return backoffMs(attempt);
}

interface AssociationsPage {
  results: { from: { id: string }; to: { toObjectId: number | string }[] }[];
}

/**
 * HubSpot's CRM v3 API: properties for the field catalogue, the objects list (`after` paging) for a first sync, the
 * search endpoint with a `hs_lastmodifieddate` GTE filter for later ones, and the batch endpoints (upsert by a unique
 * property for idempotent creation, update by id). A deal's company is its association to a company, read and written
 * through the v4 associations API (batch read, associate with the default type, archive), since search answers carry
 * no associations. Rate limits are waited out; a 401 refreshes the token once.
 */
export class HubSpotAdapter implements CrmAdapter {
  private readonly http: ProviderHttp;
  /** The kinds whose NexusFlow-id property this adapter found or made at the portal. */
  private readonly keyPropertiesReady = new Set<CrmObjectType>();

  constructor(private readonly options: HubSpotOptions) {
    this.http = new ProviderHttp({
      ...options,
      provider: 'HubSpot',
      judge: (failure) =>
        failure.status === 429 ? { kind: 'wait', delayMs: rateLimitDelayMs(failure.headers, failure.attempt) } : undefined,
    });
  }

  defaultMappings(objectType: CrmObjectType): readonly FieldMappingEntry[] {
    return DEFAULT_MAPPINGS[objectType];
  }

  creationKey(objectType: CrmObjectType): CreationKey {
    return CREATION_KEYS[objectType];
  }

  async fields(objectType: CrmObjectType): Promise<Set<string>> {
    const answer = await this.request<{ results: { name: string }[] }>('GET', `/crm/v3/properties/${OBJECTS[objectType]}`);
    return new Set(answer.results.map((property) => property.name));
  }

  async listChanged(
    objectType: CrmObjectType,
    since: Date | null,
    cursor: string | null,
    properties: readonly string[],
  ): Promise<ChangedPage> {
    const object = OBJECTS[objectType];
    const limit = Math.min(this.options.pageSize, 100);
    let page: HubSpotPage;
    if (since === null) {
      const query = new URLSearchParams({ limit: String(limit), properties: [...properties, MODIFIED].join(','), archived: 'false' });
      if (cursor !== null) query.set('after', cursor);
      page = await this.request<HubSpotPage>('GET', `/crm/v3/objects/${object}?${query}`);
    } else {
      page = await this.request<HubSpotPage>('POST', `/crm/v3/objects/${object}/search`, {
        filterGroups: [{ filters: [{ propertyName: MODIFIED, operator: 'GTE', value: String(since.getTime()) }] }],
        sorts: [{ propertyName: MODIFIED, direction: 'ASCENDING' }],
        properties: [...properties, MODIFIED],
        limit,
        ...(cursor === null ? {} : { after: cursor }),
      });
    }
    const records = page.results.map(recordOf);
    if (objectType === 'DEAL' && records.length > 0) {
      const companies = await this.companiesOfDeals(records.map((record) => record.externalId));
      for (const record of records) record.companyExternalId = companies.get(record.externalId) ?? null;
    }
    return { records, nextCursor: page.paging?.next?.after ?? null };
  }

  async createOrMatch(objectType: CrmObjectType, records: readonly RecordToCreate[]): Promise<Map<string, ProviderRecord>> {
    const { property: unique, source } = CREATION_KEYS[objectType];
    if (source === 'NEXUSFLOW_ID') await this.ensureKeyProperty(objectType);
    const found = new Map<string, ProviderRecord>();
    const companies = new Map<string, string | null | undefined>();
    for (let start = 0; start < records.length; start += BATCH_LIMIT) {
      const batch = records.slice(start, start + BATCH_LIMIT);
      const inputs = batch.map((record) => ({
        idProperty: unique,
        id: record.key,
        properties: source === 'NEXUSFLOW_ID' ? { ...record.properties, [unique]: record.key } : record.properties,
      }));
      const answer = await this.request<{ results: HubSpotObject[] }>('POST', `/crm/v3/objects/${OBJECTS[objectType]}/batch/upsert`, {
        inputs,
      });
      const byKey = new Map<string, ProviderRecord>();
      for (const result of answer.results) {
        const key = result.properties[unique];
        if (key) byKey.set(key.toLowerCase(), recordOf(result));
      }
      for (const record of batch) {
        const created = byKey.get(record.key.toLowerCase());
        if (!created) continue;
        found.set(record.key.toLowerCase(), created);
        companies.set(created.externalId, record.companyExternalId);
      }
    }
    if (objectType === 'DEAL') await this.linkCompanies([...found.values()], companies);
    return found;
  }

  async update(objectType: CrmObjectType, records: readonly RecordToUpdate[]): Promise<Map<string, ProviderRecord>> {
    const found = new Map<string, ProviderRecord>();
    for (let start = 0; start < records.length; start += BATCH_LIMIT) {
      const inputs = records.slice(start, start + BATCH_LIMIT).map((record) => ({ id: record.externalId, properties: record.properties }));
      const answer = await this.request<{ results: HubSpotObject[] }>('POST', `/crm/v3/objects/${OBJECTS[objectType]}/batch/update`, {
        inputs,
      });
      for (const result of answer.results) found.set(result.id, recordOf(result));
    }
    if (objectType === 'DEAL') {
      await this.linkCompanies([...found.values()], new Map(records.map((record) => [record.externalId, record.companyExternalId])));
    }
    return found;
  }

  /**
   * Makes the portal's unique-value property for NexusFlow's ids of a kind, when it has none yet: a portal connected
   * for the first time lacks it, and an upsert by a property that does not exist fails.
   */
  private async ensureKeyProperty(objectType: CrmObjectType): Promise<void> {
    if (this.keyPropertiesReady.has(objectType)) return;
    const object = OBJECTS[objectType];
    try {
      await this.request('GET', `/crm/v3/properties/${object}/${NEXUSFLOW_ID_PROPERTY}`);
    } catch (error) {
      if (!(error instanceof ProviderRequestError && error.status === 404)) throw error;
      try {
        await this.request('POST', `/crm/v3/properties/${object}`, {
          name: NEXUSFLOW_ID_PROPERTY,
          label: 'NexusFlow ID',
          description: "NexusFlow's id of the record, by which NexusFlow's sync finds it.",
          groupName: PROPERTY_GROUPS[objectType],
          type: 'string',
          fieldType: 'text',
          hasUniqueValue: true,
          formField: false,
        });
      } catch (creating) {
        // Made meanwhile by a sync of another integration with the same portal: there it is.
        if (!(creating instanceof ProviderRequestError && creating.status === 409)) throw creating;
      }
    }
    this.keyPropertiesReady.add(objectType);
  }

  /** The company each deal is associated with (the first, when HubSpot has several), by the deal's id. */
  private async companiesOfDeals(dealIds: readonly string[]): Promise<Map<string, string>> {
    const companies = new Map<string, string>();
    for (let start = 0; start < dealIds.length; start += BATCH_LIMIT) {
      // A deal without companies comes back among the answer's `errors` (HTTP 207): it simply has none.
      const answer = await this.request<AssociationsPage>('POST', '/crm/v4/associations/deals/companies/batch/read', {
        inputs: dealIds.slice(start, start + BATCH_LIMIT).map((id) => ({ id })),
      });
      for (const result of answer.results) {
        const first = result.to[0];
        if (first) companies.set(String(result.from.id), String(first.toObjectId));
      }
    }
    return companies;
  }

  /**
   * Makes each deal's company association the one asked for (`undefined`: left as it is, null: none), removing the
   * deal's other company associations, and records it on the deals.
   */
  private async linkCompanies(deals: readonly ProviderRecord[], wanted: ReadonlyMap<string, string | null | undefined>): Promise<void> {
    const changing = deals.filter((deal) => wanted.get(deal.externalId) !== undefined);
    if (changing.length === 0) return;
    const current = await this.companiesOfDeals(changing.map((deal) => deal.externalId));
    const stale: { from: { id: string }; to: { id: string }[] }[] = [];
    const fresh: { from: { id: string }; to: { id: string } }[] = [];
    for (const deal of changing) {
      const company = wanted.get(deal.externalId) ?? null;
      const linked = current.get(deal.externalId) ?? null;
      if (linked !== null && linked !== company) stale.push({ from: { id: deal.externalId }, to: [{ id: linked }] });
      if (company !== null && linked !== company) fresh.push({ from: { id: deal.externalId }, to: { id: company } });
      deal.companyExternalId = company;
    }
    for (let start = 0; start < stale.length; start += BATCH_LIMIT) {
      await this.request('POST', '/crm/v4/associations/deals/companies/batch/archive', { inputs: stale.slice(start, start + BATCH_LIMIT) });
    }
    for (let start = 0; start < fresh.length; start += BATCH_LIMIT) {
      await this.request('POST', '/crm/v4/associations/deals/companies/batch/associate/default', {
        inputs: fresh.slice(start, start + BATCH_LIMIT),
      });
    }
  }

  private request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    return this.http.json<T>(method, endpointOn(this.options.settings, `https://api.hubapi.com${path}`), body);
  }
}
