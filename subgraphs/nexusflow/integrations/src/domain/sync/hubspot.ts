import { setTimeout as sleep } from 'node:timers/promises';
import { endpointOn, type ProviderSettings } from '../providers.ts';
import {
  ProviderRequestError,
  type ChangedPage,
  type CrmAdapter,
  type ProviderRecord,
  type RecordToCreate,
  type RecordToUpdate,
} from './adapter.ts';
import type { CrmObjectType } from './mappings.ts';

const OBJECTS: Record<CrmObjectType, string> = { CONTACT: 'contacts' };
const UNIQUE_FIELDS: Record<CrmObjectType, string> = { CONTACT: 'email' };
const MODIFIED = 'hs_lastmodifieddate';
/** HubSpot's batch endpoints take at most 100 inputs. */
const BATCH_LIMIT = 100;

/** An access token for the integration; `rejected` is the one HubSpot just refused, to be refreshed. */
export type TokenSource = (rejected?: string) => Promise<string>;

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
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null && /^\d+(\.\d+)?$/.test(retryAfter.trim())) return Math.ceil(Number(retryAfter) * 1000);
  const interval = Number(headers.get('x-hubspot-ratelimit-interval-milliseconds'));
  const remaining = headers.get('x-hubspot-ratelimit-remaining') ?? headers.get('x-hubspot-ratelimit-secondly-remaining');
  if (Number.isFinite(interval) && interval > 0 && remaining === '0') return interval;
  if (remaining === '0' && headers.has('x-hubspot-ratelimit-secondly')) return 1000;
  return Math.min(250 * 2 ** attempt, 10_000);
}

/**
 * HubSpot's CRM v3 API: properties for the field catalogue, the objects list (`after` paging) for a first sync, the
 * search endpoint with a `hs_lastmodifieddate` GTE filter for later ones, and the batch endpoints (upsert by a unique
 * property for idempotent creation, update by id). Rate limits are waited out; a 401 refreshes the token once.
 */
export class HubSpotAdapter implements CrmAdapter {
  private readonly wait: (ms: number) => Promise<void>;

  constructor(private readonly options: HubSpotOptions) {
    this.wait = options.wait ?? ((ms) => sleep(ms));
  }

  uniqueField(objectType: CrmObjectType): string {
    return UNIQUE_FIELDS[objectType];
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
    return { records: page.results.map(recordOf), nextCursor: page.paging?.next?.after ?? null };
  }

  async createOrMatch(objectType: CrmObjectType, records: readonly RecordToCreate[]): Promise<Map<string, ProviderRecord>> {
    const unique = UNIQUE_FIELDS[objectType];
    const found = new Map<string, ProviderRecord>();
    for (let start = 0; start < records.length; start += BATCH_LIMIT) {
      const inputs = records
        .slice(start, start + BATCH_LIMIT)
        .map((record) => ({ idProperty: unique, id: record.key, properties: record.properties }));
      const answer = await this.request<{ results: HubSpotObject[] }>('POST', `/crm/v3/objects/${OBJECTS[objectType]}/batch/upsert`, {
        inputs,
      });
      for (const result of answer.results) {
        const key = result.properties[unique];
        if (key) found.set(key.toLowerCase(), recordOf(result));
      }
    }
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
    return found;
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = endpointOn(this.options.settings, `https://api.hubapi.com${path}`);
    let token = await this.options.token();
    let refreshed = false;
    for (let rateLimited = 0; ;) {
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (error) {
        throw new ProviderRequestError(`HubSpot could not be reached: ${error instanceof Error ? error.message : String(error)}`, true);
      }
      if (response.ok) return (await response.json()) as T;
      if (response.status === 401 && !refreshed) {
        await response.body?.cancel();
        refreshed = true;
        token = await this.options.token(token);
        continue;
      }
      if (response.status === 429 && rateLimited < this.options.maxRateLimitRetries) {
        await response.body?.cancel();
        await this.wait(rateLimitDelayMs(response.headers, rateLimited));
        rateLimited += 1;
        continue;
      }
      const message = await messageOf(response);
      throw new ProviderRequestError(
        `HubSpot answered ${response.status}: ${message}`,
        response.status === 429 || response.status >= 500,
        response.status,
      );
    }
  }
}

async function messageOf(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Not JSON: its start says enough.
  }
  return text.slice(0, 200);
}
