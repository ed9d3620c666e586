import { randomBytes } from 'node:crypto';
import { FakeOAuthProvider, FakeSalesforce, json, token, type Received, type Reply } from './fake-providers.ts';

/** A request a CRM's API received: for tests that count pages and look at the waits between requests. */
export interface CrmApiRequest {
  route: string;
  /** Where a page started: a cursor, an offset, a page number; null for the first. */
  from: string | null;
  at: number;
  status: number;
  query: URLSearchParams;
  headers: Received['headers'];
}

/** A record of a fake CRM, times in ms. */
export interface FakeRecord {
  id: string;
  fields: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

/**
 * What tests script on a fake CRM's API, the same for each: answers given before the API's own (a rate limit, a
 * limit spent), and failures of a route applied first or not (a reply lost on the way back); and every request, logged.
 */
export class CrmApiScript {
  readonly requests: CrmApiRequest[] = [];
  private readonly next: (Reply | (() => Reply))[] = [];
  private readonly failures: { route: string; afterApplying: boolean }[] = [];

  reset(): void {
    this.requests.length = 0;
    this.next.length = 0;
    this.failures.length = 0;
  }

  /** The next `times` requests are answered `reply` instead (made as each is answered, when a function). */
  answerNext(times: number, reply: Reply | (() => Reply)): void {
    for (let index = 0; index < times; index += 1) this.next.push(reply);
  }

  /** The next request to `route` (`METHOD /path`) fails with a 502, applied first (its reply lost) or not. */
  failNext(route: string, options: { afterApplying: boolean }): void {
    this.failures.push({ route, ...options });
  }

  run(request: Received, route: string, from: string | null, handle: () => Reply): Reply {
    const reply = this.answer(route, handle);
    this.requests.push({ route, from, at: Date.now(), status: reply.status, query: request.query, headers: request.headers });
    return reply;
  }

  of(route: string): CrmApiRequest[] {
    return this.requests.filter((request) => request.route === route);
  }

  private answer(route: string, handle: () => Reply): Reply {
    const scripted = this.next.shift();
    if (scripted) return typeof scripted === 'function' ? scripted() : scripted;
    const index = this.failures.findIndex((failure) => failure.route === route);
    const failing = index >= 0 ? this.failures.splice(index, 1)[0] : undefined;
    const badGateway = json(502, { message: 'Bad Gateway' });
    if (failing && !failing.afterApplying) return badGateway;
    const reply = handle();
    return failing ? badGateway : reply;
  }
}

/**
 * Records of one kind, with modification times that move forward on every change: by a millisecond at least, or, for
 * CRMs that keep whole seconds (Pipedrive, Zoho), by a whole second, so that two changes never share a timestamp.
 */
export class FakeRecords {
  readonly byId = new Map<string, FakeRecord>();
  private lastModified = 0;

  constructor(
    private readonly nextId: () => string,
    private readonly stepMs: 1 | 1000,
  ) {}

  create(fields: Record<string, unknown>): FakeRecord {
    const now = this.tick();
    const record = { id: this.nextId(), fields: { ...fields }, createdAt: now, updatedAt: now };
    this.byId.set(record.id, record);
    return record;
  }

  update(id: string, fields: Record<string, unknown>): FakeRecord {
    const record = this.byId.get(id);
    if (!record) throw new Error(`no record ${id}`);
    Object.assign(record.fields, fields);
    record.updatedAt = this.tick();
    return record;
  }

  find(predicate: (fields: Record<string, unknown>) => boolean): FakeRecord | undefined {
    return [...this.byId.values()].find((record) => predicate(record.fields));
  }

  /** Oldest change first, then by id. */
  sorted(): FakeRecord[] {
    return [...this.byId.values()].sort((a, b) => a.updatedAt - b.updatedAt || a.id.localeCompare(b.id));
  }

  get size(): number {
    return this.byId.size;
  }

  private tick(): number {
    const now = this.stepMs === 1000 ? Math.floor(Date.now() / 1000) * 1000 : Date.now();
    this.lastModified = Math.max(now, this.lastModified + this.stepMs);
    return this.lastModified;
  }
}

const bearerOf = (request: Received, scheme = 'Bearer') => {
  const header = request.headers.authorization ?? '';
  return header.startsWith(`${scheme} `) ? header.slice(scheme.length + 1) : '';
};
const seconds = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
const lower = (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value);

const SALESFORCE_API = '/services/data/v60.0';
const SALESFORCE_FIELDS: Record<string, { name: string; relationshipName?: string; externalId?: boolean }[]> = {
  Contact: [
    { name: 'Id' },
    { name: 'FirstName' },
    { name: 'LastName' },
    { name: 'Email' },
    { name: 'Phone' },
    { name: 'Title' },
    { name: 'AccountId', relationshipName: 'Account' },
    { name: 'SystemModstamp' },
    { name: 'NexusFlow_Id__c', externalId: true },
  ],
  Account: [
    { name: 'Id' },
    { name: 'Name' },
    { name: 'Website' },
    { name: 'Industry' },
    { name: 'Phone' },
    { name: 'SystemModstamp' },
    { name: 'NexusFlow_Id__c', externalId: true },
  ],
  Opportunity: [
    { name: 'Id' },
    { name: 'Name' },
    { name: 'Amount' },
    { name: 'StageName' },
    { name: 'CloseDate' },
    { name: 'AccountId', relationshipName: 'Account' },
    { name: 'SystemModstamp' },
    { name: 'NexusFlow_Id__c', externalId: true },
  ],
};
const REQUIRED_ON_CREATE: Record<string, string[]> = {
  Contact: ['LastName'],
  Account: ['Name'],
  Opportunity: ['Name', 'StageName', 'CloseDate'],
};
const SOQL = /^SELECT (.+) FROM (\w+)(?: WHERE SystemModstamp >= (\S+))? ORDER BY SystemModstamp ASC, Id ASC$/;

/**
 * Salesforce: its OAuth fake (see FakeSalesforce; the token answer's `instance_url` is this server) and its REST API
 * v60.0 for Contact, Account and Opportunity: `describe`, SOQL `query` as the sync sends it (a field list with lookups
 * such as `Account.Name`, a `SystemModstamp >=` filter, ordered) answering `totalSize`, `done`, `records` with
 * `attributes` and `nextRecordsUrl` batches of `batchSize`, and sObject Collections: upsert by an external-id field,
 * update by id (both `SaveResult`s, `REQUIRED_FIELD_MISSING` for a contact without a last name), retrieve by ids. Every
 * answer carries `Sforce-Limit-Info`; an expired session is 401 `INVALID_SESSION_ID`; the limits are 403
 * `REQUEST_LIMIT_EXCEEDED`.
 */
export class FakeSalesforceCrm extends FakeSalesforce {
  readonly objects = new Map(
    ['Contact', 'Account', 'Opportunity'].map((sObject, index) => {
      let next = 1;
      const prefix = ['003', '001', '006'][index]!;
      return [sObject, new FakeRecords(() => `${prefix}5g00000${String(next++).padStart(8, '0')}`, 1)];
    }),
  );
  readonly api = new CrmApiScript();
  /** Records a query answers at a time: Salesforce's is 2,000 by default, at least 200; tests make it smaller. */
  batchSize = 2000;
  readonly apiLimit = 15_000;
  apiUsed = 0;
  private readonly locators = new Map<string, { ids: string[]; fields: string[]; sObject: string }>();

  get contacts(): FakeRecords {
    return this.objects.get('Contact')!;
  }

  reset(): void {
    for (const records of this.objects.values()) records.byId.clear();
    this.api.reset();
    this.locators.clear();
  }

  /** The next `times` requests meet a limit: the concurrent long-running requests' (lifting soon) or the daily one. */
  limitNext(times: number, limit: 'concurrent' | 'daily'): void {
    const message = limit === 'daily' ? 'TotalRequests Limit exceeded.' : 'ConcurrentPerOrgLongTxn Limit exceeded.';
    this.api.answerNext(times, {
      status: 403,
      headers: { 'Sforce-Limit-Info': `api-usage=${limit === 'daily' ? this.apiLimit : this.apiUsed}/${this.apiLimit}` },
      body: [{ message, errorCode: 'REQUEST_LIMIT_EXCEEDED' }],
    });
  }

  protected override route(request: Received): Promise<Reply> | Reply {
    if (!request.path.startsWith(`${SALESFORCE_API}/`)) return super.route(request);
    if (!this.works(bearerOf(request))) return json(401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
    this.apiUsed += 1;
    const route = `${request.method} ${request.path.replace(/\/query\/[^/]+$/, '/query/:locator')}`;
    const reply = this.api.run(request, route, request.path.includes('/query/') ? request.path.split('/').at(-1)! : null, () =>
      this.data(request),
    );
    return { ...reply, headers: { 'Sforce-Limit-Info': `api-usage=${this.apiUsed}/${this.apiLimit}`, ...reply.headers } };
  }

  private data(request: Received): Reply {
    const path = request.path.slice(SALESFORCE_API.length);
    const notFound = json(404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    const describe = /^\/sobjects\/(\w+)\/describe$/.exec(path);
    if (request.method === 'GET' && describe) {
      const fields = SALESFORCE_FIELDS[describe[1]!];
      if (!fields) return notFound;
      return json(200, {
        name: describe[1],
        fields: fields.map((field) => ({
          name: field.name,
          type: field.relationshipName ? 'reference' : field.name === 'Id' ? 'id' : 'string',
          relationshipName: field.relationshipName ?? null,
          referenceTo: field.relationshipName ? [field.relationshipName] : [],
          externalId: field.externalId ?? false,
          unique: field.externalId ?? false,
          updateable: !['Id', 'SystemModstamp'].includes(field.name),
        })),
      });
    }
    if (request.method === 'GET' && path === '/query')
      return this.query(request.query.get('q') ?? '', request.headers['sforce-query-options']);
    const more = /^\/query\/([^/]+)$/.exec(path);
    if (request.method === 'GET' && more) return this.queryPage(more[1]!);
    const body = request.body ? (JSON.parse(request.body) as { records?: Record<string, unknown>[] }) : {};
    const upsert = /^\/composite\/sobjects\/(\w+)\/(\w+)$/.exec(path);
    if (request.method === 'PATCH' && upsert) return this.save(upsert[1]!, body.records ?? [], upsert[2]!);
    if (request.method === 'PATCH' && path === '/composite/sobjects') return this.save(null, body.records ?? [], null);
    const retrieve = /^\/composite\/sobjects\/(\w+)$/.exec(path);
    if (request.method === 'GET' && retrieve) {
      const records = this.objects.get(retrieve[1]!);
      if (!records) return notFound;
      const fields = (request.query.get('fields') ?? 'Id').split(',');
      return json(
        200,
        (request.query.get('ids') ?? '').split(',').map((id) => {
          const record = records.byId.get(id);
          return record ? this.view(retrieve[1]!, record, fields) : null;
        }),
      );
    }
    return notFound;
  }

  private query(soql: string, options: string | string[] | undefined): Reply {
    const parsed = SOQL.exec(soql);
    if (!parsed) return json(400, [{ errorCode: 'MALFORMED_QUERY', message: `unexpected query: ${soql}` }]);
    const [, list, sObject, since] = parsed;
    const records = this.objects.get(sObject!);
    if (!records) return json(400, [{ errorCode: 'INVALID_TYPE', message: `sObject type '${sObject}' is not supported.` }]);
    const fields = list!.split(', ');
    const known = new Set(SALESFORCE_FIELDS[sObject!]!.flatMap((field) => [field.name, `${field.relationshipName}.Name`]));
    const unknown = fields.find((field) => !known.has(field));
    if (unknown) return json(400, [{ errorCode: 'INVALID_FIELD', message: `No such column '${unknown}' on entity '${sObject}'.` }]);
    const from = since === undefined ? 0 : Date.parse(since);
    const ids = records
      .sorted()
      .filter((record) => record.updatedAt >= from)
      .map((record) => record.id);
    const asked = Number(/batchSize=(\d+)/.exec(String(options ?? ''))?.[1] ?? 2000);
    const locator = `01g5g00000${randomBytes(4).toString('hex')}`;
    this.locators.set(locator, { ids, fields, sObject: sObject! });
    return this.queryPage(`${locator}-0`, Math.min(asked, this.batchSize));
  }

  private queryPage(position: string, batch = this.batchSize): Reply {
    const [locator, offset] = position.split('-') as [string, string | undefined];
    const cursor = this.locators.get(locator);
    if (!cursor) return json(400, [{ errorCode: 'INVALID_QUERY_LOCATOR', message: 'invalid query locator' }]);
    const start = Number(offset ?? 0);
    const records = this.objects.get(cursor.sObject)!;
    const page = cursor.ids
      .slice(start, start + batch)
      .map((id) => records.byId.get(id))
      .filter((record) => record !== undefined);
    const done = start + batch >= cursor.ids.length;
    return json(200, {
      totalSize: cursor.ids.length,
      done,
      records: page.map((record) => this.view(cursor.sObject, record, cursor.fields)),
      ...(done ? {} : { nextRecordsUrl: `${SALESFORCE_API}/query/${locator}-${start + batch}` }),
    });
  }

  /** sObject Collections: an upsert by `externalIdField` of `sObject`, or an update by `id` (each names its type). */
  private save(sObject: string | null, records: Record<string, unknown>[], externalIdField: string | null): Reply {
    if (records.length > 200)
      return json(400, [
        { errorCode: 'EXCEEDED_ID_LIMIT', message: 'record limit reached. cannot submit more than 200 records into this call' },
      ]);
    const results = records.map((input) => {
      const { attributes, id, ...fields } = input as { attributes: { type: string }; id?: string } & Record<string, unknown>;
      const type = sObject ?? attributes.type;
      const store = this.objects.get(type)!;
      const existing =
        externalIdField !== null
          ? store.find((stored) => stored[externalIdField] === fields[externalIdField])
          : id === undefined
            ? undefined
            : store.byId.get(id);
      if (existing) {
        store.update(existing.id, fields);
        return { id: existing.id, success: true, errors: [], ...(externalIdField ? { created: false } : {}) };
      }
      if (externalIdField === null) {
        return { id: id ?? null, success: false, errors: [{ statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }] };
      }
      const missing = REQUIRED_ON_CREATE[type]!.filter(
        (field) => fields[field] === undefined || fields[field] === null || fields[field] === '',
      );
      if (missing.length > 0) {
        return {
          id: null,
          success: false,
          errors: [
            { statusCode: 'REQUIRED_FIELD_MISSING', message: `Required fields are missing: [${missing.join(', ')}]`, fields: missing },
          ],
        };
      }
      return { id: store.create(fields).id, success: true, errors: [], created: true };
    });
    return json(200, results);
  }

  private view(sObject: string, record: FakeRecord, fields: readonly string[]) {
    const shown: Record<string, unknown> = { attributes: { type: sObject, url: `${SALESFORCE_API}/sobjects/${sObject}/${record.id}` } };
    for (const field of fields) {
      if (field === 'Id') shown.Id = record.id;
      else if (field === 'SystemModstamp') shown.SystemModstamp = new Date(record.updatedAt).toISOString().replace('Z', '+0000');
      else if (field.endsWith('.Name')) {
        const relationship = field.slice(0, -'.Name'.length);
        const accountId = record.fields[`${relationship}Id`];
        const account = typeof accountId === 'string' ? this.objects.get('Account')!.byId.get(accountId) : undefined;
        shown[relationship] = account ? { attributes: { type: 'Account', url: '' }, Name: account.fields.Name ?? null } : null;
      } else shown[field] = record.fields[field] ?? null;
    }
    return shown;
  }
}

const PIPEDRIVE_FIELDS: Record<string, { key: string; name: string }[]> = {
  personFields: [
    { key: 'name', name: 'Name' },
    { key: 'first_name', name: 'First name' },
    { key: 'last_name', name: 'Last name' },
    { key: 'email', name: 'Email' },
    { key: 'phone', name: 'Phone' },
    { key: 'org_id', name: 'Organization' },
    { key: 'update_time', name: 'Update time' },
    { key: 'c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff', name: 'Job title' },
  ],
  organizationFields: [
    { key: 'name', name: 'Name' },
    { key: 'website', name: 'Website' },
    { key: 'industry', name: 'Industry' },
    { key: 'update_time', name: 'Update time' },
  ],
  dealFields: [
    { key: 'title', name: 'Title' },
    { key: 'value', name: 'Value' },
    { key: 'currency', name: 'Currency' },
    { key: 'stage_id', name: 'Stage' },
    { key: 'expected_close_date', name: 'Expected close date' },
    { key: 'org_id', name: 'Organization' },
    { key: '5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e', name: 'NexusFlow ID' },
  ],
};

/**
 * Pipedrive: OAuth as its Marketplace apps have it (`/oauth/authorize` without PKCE, `/oauth/token` with HTTP Basic
 * client credentials, tokens for an hour with the company's `api_domain`, `/oauth/revoke`), and its API: the v1 field
 * catalogues (`start`/`limit`, `additional_data.pagination`), the v2 lists of persons, organizations and deals
 * (`updated_since`, `sort_by=update_time`, `cursor` paging with `additional_data.next_cursor`, `ids`), v2 search
 * (`term`, `fields`, `exact_match`), and v2 create and update one record at a time; emails and phones as lists of
 * `{value, primary, label}`, custom fields under `custom_fields`, times in whole seconds. Every answer carries the
 * `x-ratelimit-*` headers; a 429 says `Request over limit`; a token not issued here, or expired, is 401.
 */
export class FakePipedrive extends FakeOAuthProvider {
  static readonly EXPIRES_IN = 3599;
  readonly api = new CrmApiScript();
  readonly companyDomain = 'acme';
  readonly objects = new Map(
    ['persons', 'organizations', 'deals'].map((name, index) => {
      let next = [101, 201, 301][index]!;
      return [name, new FakeRecords(() => String(next++), 1000)];
    }),
  );
  private readonly cursors = new Map<string, string[]>();

  get persons(): FakeRecords {
    return this.objects.get('persons')!;
  }

  reset(): void {
    for (const records of this.objects.values()) records.byId.clear();
    this.api.reset();
    this.cursors.clear();
  }

  /** A person as made in Pipedrive: `email` and `phone` become their lists, `name` is made of the two names. */
  createPerson(fields: { email?: string; first_name?: string; last_name?: string; phone?: string; org_id?: number }): string {
    return this.persons.create(this.personFields(fields)).id;
  }

  updatePerson(id: string, fields: { email?: string; first_name?: string; last_name?: string; phone?: string }): void {
    const current = this.persons.byId.get(id)!.fields;
    this.persons.update(
      id,
      this.personFields({ first_name: current.first_name as string, last_name: current.last_name as string, ...fields }),
    );
  }

  personByEmail(email: string): FakeRecord | undefined {
    return this.persons.find((fields) =>
      (fields.emails as { value: string }[]).some((entry) => entry.value.toLowerCase() === email.toLowerCase()),
    );
  }

  rateLimitNext(times: number, resetSeconds = 1): void {
    this.api.answerNext(times, {
      status: 429,
      headers: { 'x-ratelimit-limit': '80', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetSeconds) },
      body: { success: false, error: 'Request over limit', errorCode: 429, error_info: 'Please check developers.pipedrive.com' },
    });
  }

  protected route(request: Received): Reply {
    const { method, path } = request;
    if (method === 'GET' && path === '/oauth/authorize') return this.authorization(request.query, false);
    if (method === 'POST' && path === '/oauth/token') return this.token(request);
    if (method === 'POST' && path === '/oauth/revoke') {
      return this.revoke(request.form.get('token') ?? '')
        ? { status: 200 }
        : json(400, { error: 'invalid_request', error_description: 'unknown token' });
    }
    if (!path.startsWith('/v1/') && !path.startsWith('/api/v2/'))
      return json(404, { success: false, error: 'Unknown method .', errorCode: 404 });
    const bearer = bearerOf(request);
    if (!this.works(bearer)) {
      return json(401, {
        success: false,
        error: 'unauthorized access',
        errorCode: 401,
        error_info: 'Please check developers.pipedrive.com',
      });
    }
    const route = `${method} ${path.replace(/\/\d+$/, '/:id')}`;
    const reply = this.api.run(request, route, request.query.get('cursor') ?? request.query.get('start'), () => this.data(request));
    return { ...reply, headers: { 'x-ratelimit-limit': '80', 'x-ratelimit-remaining': '79', 'x-ratelimit-reset': '2', ...reply.headers } };
  }

  private token(request: Received): Reply {
    const { form } = request;
    this.tokenRequests.push(form);
    if (!this.authenticated(request)) return json(401, { error: 'invalid_client', error_description: 'Invalid client credentials' });
    let refreshToken: string;
    if (form.get('grant_type') === 'authorization_code') {
      if (!this.redeem(form))
        return json(400, { error: 'invalid_grant', error_description: 'Invalid grant: authorization code is invalid' });
      refreshToken = token('pd-refresh-');
    } else if (form.get('grant_type') === 'refresh_token') {
      refreshToken = form.get('refresh_token') ?? '';
      if (!this.refreshTokens.has(refreshToken))
        return json(400, { error: 'invalid_grant', error_description: 'Invalid grant: refresh token is invalid' });
    } else {
      return json(400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant type' });
    }
    const issued = this.issue('pd-access-', refreshToken);
    return json(200, {
      access_token: issued.accessToken,
      token_type: 'Bearer',
      refresh_token: refreshToken,
      scope: 'base,contacts:full,deals:full',
      expires_in: FakePipedrive.EXPIRES_IN,
      api_domain: this.origin,
    });
  }

  private personFields(fields: { email?: string; first_name?: string; last_name?: string; phone?: string; org_id?: number }) {
    const name = [fields.first_name, fields.last_name].filter(Boolean).join(' ');
    return {
      name: name || fields.email || 'Unnamed',
      first_name: fields.first_name ?? null,
      last_name: fields.last_name ?? null,
      org_id: fields.org_id ?? null,
      ...(fields.email === undefined ? {} : { emails: [{ value: fields.email, primary: true, label: 'work' }] }),
      ...(fields.phone === undefined ? {} : { phones: [{ value: fields.phone, primary: true, label: 'work' }] }),
    };
  }

  private data(request: Received): Reply {
    const { method, path, query } = request;
    const catalogue = /^\/v1\/(personFields|organizationFields|dealFields)$/.exec(path);
    if (method === 'GET' && catalogue) {
      const all = PIPEDRIVE_FIELDS[catalogue[1]!]!;
      const start = Number(query.get('start') ?? 0);
      const limit = Math.min(Number(query.get('limit') ?? 100), 500);
      const more = start + limit < all.length;
      return json(200, {
        success: true,
        data: all.slice(start, start + limit).map((field, index) => ({ id: start + index + 1, ...field, field_type: 'varchar' })),
        additional_data: { pagination: { start, limit, more_items_in_collection: more, ...(more ? { next_start: start + limit } : {}) } },
      });
    }
    const match = /^\/api\/v2\/(persons|organizations|deals)(?:\/(search|\d+))?$/.exec(path);
    const records = match ? this.objects.get(match[1]!) : undefined;
    if (!match || !records) return json(404, { success: false, error: 'Unknown method .', errorCode: 404 });
    const [, kind, sub] = match;
    const body = request.body ? (JSON.parse(request.body) as Record<string, unknown>) : {};
    if (method === 'GET' && sub === undefined) return this.list(records, query);
    if (method === 'GET' && sub === 'search') {
      const term = (query.get('term') ?? '').toLowerCase();
      const field = query.get('fields');
      const found = [...records.byId.values()].filter((record) => {
        if (field === 'email')
          return ((record.fields.emails ?? []) as { value: string }[]).some((entry) => entry.value.toLowerCase() === term);
        if (field === 'custom_fields') return Object.values(record.fields.custom_fields ?? {}).some((value) => lower(value) === term);
        return lower(record.fields[field ?? 'name']) === term;
      });
      return json(200, {
        success: true,
        data: {
          items: found.slice(0, Number(query.get('limit') ?? 100)).map((record) => ({
            result_score: 1,
            item: { id: Number(record.id), type: kind!.slice(0, -1), name: record.fields.name ?? record.fields.title },
          })),
        },
        additional_data: { next_cursor: null },
      });
    }
    if (method === 'POST' && sub === undefined) {
      const required = kind === 'deals' ? 'title' : 'name';
      if (!body[required])
        return json(400, { success: false, error: `Validation failed: ${required}: Parameter is required`, errorCode: 400 });
      return json(200, { success: true, data: this.view(records.create(this.stored(kind!, body))) });
    }
    if (method === 'PATCH' && sub !== undefined && sub !== 'search') {
      if (!records.byId.has(sub)) return json(404, { success: false, error: 'Entity not found', errorCode: 404 });
      return json(200, { success: true, data: this.view(records.update(sub, this.stored(kind!, body))) });
    }
    return json(404, { success: false, error: 'Unknown method .', errorCode: 404 });
  }

  /** A written body as stored: a person's names derived from `name`, custom fields merged. */
  private stored(kind: string, body: Record<string, unknown>): Record<string, unknown> {
    const fields = { ...body };
    if (kind === 'persons' && typeof body.name === 'string') {
      const [first, ...rest] = body.name.split(' ');
      Object.assign(fields, { first_name: first ?? null, last_name: rest.join(' ') || null });
    }
    return fields;
  }

  private list(records: FakeRecords, query: URLSearchParams): Reply {
    const limit = Math.min(Number(query.get('limit') ?? 100), 500);
    const cursor = query.get('cursor');
    let ids: string[];
    let offset = 0;
    if (cursor !== null) {
      const [id, at] = cursor.split(':');
      const remembered = this.cursors.get(id ?? '');
      if (!remembered) return json(400, { success: false, error: 'Invalid cursor', errorCode: 400 });
      ids = remembered;
      offset = Number(at);
    } else {
      const since = query.get('updated_since');
      const wanted = query.get('ids')?.split(',');
      ids = records
        .sorted()
        .filter((record) => since === null || record.updatedAt >= Date.parse(since))
        .filter((record) => !wanted || wanted.includes(record.id))
        .map((record) => record.id);
    }
    const page = ids.slice(offset, offset + limit);
    let next: string | null = null;
    if (offset + limit < ids.length) {
      const id = randomBytes(6).toString('base64url');
      this.cursors.set(id, ids);
      next = `${id}:${offset + limit}`;
    }
    return json(200, {
      success: true,
      data: page.map((id) => this.view(records.byId.get(id)!)),
      additional_data: { next_cursor: next },
    });
  }

  private view(record: FakeRecord) {
    return {
      id: Number(record.id),
      ...record.fields,
      add_time: seconds(record.createdAt),
      update_time: seconds(record.updatedAt),
    };
  }
}

const ZOHO_FIELDS: Record<string, string[]> = {
  Contacts: ['Email', 'First_Name', 'Last_Name', 'Phone', 'Title', 'Account_Name', 'Modified_Time'],
  Accounts: ['Account_Name', 'Website', 'Industry', 'Phone', 'Modified_Time'],
  Deals: ['Deal_Name', 'Amount', 'Stage', 'Closing_Date', 'Account_Name', 'NexusFlow_Id', 'Modified_Time'],
};
const ZOHO_MANDATORY: Record<string, string> = { Contacts: 'Last_Name', Accounts: 'Account_Name', Deals: 'Deal_Name' };
const zohoError = (status: number, code: string, message: string, details: Record<string, unknown> = {}) =>
  json(status, { code, details, message, status: 'error' });
const zohoTime = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}+00:00`;

/**
 * Zoho CRM: Zoho Accounts' OAuth (`/oauth/v2/auth` with `access_type=offline`, `/oauth/v2/token` answering HTTP 200
 * even for errors, `{"error": "invalid_code"}`; tokens for an hour with the data centre's `api_domain`, a refresh
 * answering no new refresh token; `/oauth/v2/token/revoke?token=`), and the CRM API v2 under `Zoho-oauthtoken`:
 * `settings/fields`, record lists (`fields`, `page`, `per_page`, `sort_by`, `If-Modified-Since`; `info.more_records`;
 * 304 when nothing changed since, 204 when there is nothing), `upsert` with `duplicate_check_fields`, and `PUT` by id;
 * `MANDATORY_NOT_FOUND` per record, `INVALID_TOKEN` (401), and 429 `TOO_MANY_REQUESTS` with `X-RATELIMIT-*`.
 */
export class FakeZoho extends FakeOAuthProvider {
  static readonly EXPIRES_IN = 3600;
  readonly api = new CrmApiScript();
  readonly modules = new Map(
    ['Contacts', 'Accounts', 'Deals'].map((module) => {
      let next = 1;
      return [module, new FakeRecords(() => `4876876000000${String(next++).padStart(6, '0')}`, 1000)];
    }),
  );

  get contacts(): FakeRecords {
    return this.modules.get('Contacts')!;
  }

  reset(): void {
    for (const records of this.modules.values()) records.byId.clear();
    this.api.reset();
  }

  /** The next `times` requests are refused with 429, each until `waitMs` after it is answered. */
  rateLimitNext(times: number, waitMs = 300): void {
    this.api.answerNext(times, () => ({
      status: 429,
      headers: { 'X-RATELIMIT-LIMIT': '100', 'X-RATELIMIT-REMAINING': '0', 'X-RATELIMIT-RESET': String(Date.now() + waitMs) },
      body: { code: 'TOO_MANY_REQUESTS', details: {}, message: 'too many requests', status: 'error' },
    }));
  }

  protected route(request: Received): Reply {
    const { method, path } = request;
    if (method === 'GET' && path === '/oauth/v2/auth') return this.authorization(request.query, false);
    if (method === 'POST' && path === '/oauth/v2/token') return this.token(request);
    if (method === 'POST' && path === '/oauth/v2/token/revoke') {
      this.revoke(request.query.get('token') ?? '');
      return json(200, { status: 'success' });
    }
    if (!path.startsWith('/crm/v2/'))
      return zohoError(404, 'INVALID_URL_PATTERN', 'Please check if the URL trying to access is a correct one');
    const bearer = bearerOf(request, 'Zoho-oauthtoken');
    if (!this.works(bearer)) return zohoError(401, 'INVALID_TOKEN', 'invalid oauth token');
    const route = `${method} ${path}`;
    return this.api.run(request, route, request.query.get('page'), () => this.data(request));
  }

  private token(request: Received): Reply {
    const { form } = request;
    this.tokenRequests.push(form);
    // Zoho answers its token errors with HTTP 200.
    if (!this.authenticated(request)) return json(200, { error: 'invalid_client' });
    if (form.get('grant_type') === 'authorization_code') {
      if (!this.redeem(form)) return json(200, { error: 'invalid_code' });
      const issued = this.issue('1000.zoho-access-', token('1000.zoho-refresh-'));
      return json(200, {
        access_token: issued.accessToken,
        refresh_token: issued.refreshToken,
        scope: form.get('scope') ?? 'ZohoCRM.modules.contacts.ALL',
        api_domain: this.origin,
        token_type: 'Bearer',
        expires_in: FakeZoho.EXPIRES_IN,
      });
    }
    if (form.get('grant_type') === 'refresh_token') {
      const refreshToken = form.get('refresh_token') ?? '';
      if (!this.refreshTokens.has(refreshToken)) return json(200, { error: 'invalid_code' });
      const issued = this.issue('1000.zoho-access-', refreshToken);
      return json(200, {
        access_token: issued.accessToken,
        api_domain: this.origin,
        token_type: 'Bearer',
        expires_in: FakeZoho.EXPIRES_IN,
      });
    }
    return json(200, { error: 'unsupported_grant_type' });
  }

  private data(request: Received): Reply {
    const { method, path, query } = request;
    if (method === 'GET' && path === '/crm/v2/settings/fields') {
      const fields = ZOHO_FIELDS[query.get('module') ?? ''];
      if (!fields) return zohoError(400, 'INVALID_MODULE', 'the module name given seems to be invalid');
      return json(200, {
        fields: fields.map((name) => ({
          api_name: name,
          field_label: name.replace(/_/g, ' '),
          data_type: 'text',
          unique: { casesensitive: 'false' },
        })),
      });
    }
    const match = /^\/crm\/v2\/(Contacts|Accounts|Deals)(\/upsert)?$/.exec(path);
    if (!match) return zohoError(404, 'INVALID_URL_PATTERN', 'Please check if the URL trying to access is a correct one');
    const module = match[1]!;
    const records = this.modules.get(module)!;
    if (method === 'GET' && !match[2]) {
      const since = request.headers['if-modified-since'];
      const perPage = Math.min(Number(query.get('per_page') ?? 200), 200);
      const page = Number(query.get('page') ?? 1);
      const fields = (query.get('fields') ?? '').split(',').filter(Boolean);
      if (records.size === 0) return { status: 204 };
      const matching = records.sorted().filter((record) => typeof since !== 'string' || record.updatedAt > Date.parse(since));
      if (matching.length === 0) return { status: 304 };
      const slice = matching.slice((page - 1) * perPage, page * perPage);
      return json(200, {
        data: slice.map((record) => this.view(module, record, fields)),
        info: { per_page: perPage, count: slice.length, page, more_records: page * perPage < matching.length },
      });
    }
    const body = JSON.parse(request.body || '{}') as { data?: Record<string, unknown>[]; duplicate_check_fields?: string[] };
    const data = body.data ?? [];
    if (data.length > 100) return zohoError(400, 'LIMIT_EXCEEDED', 'Limit exceeded', { limit: 100 });
    if (method === 'POST' && match[2]) {
      const checks = body.duplicate_check_fields ?? [];
      return json(200, {
        data: data.map((input) => {
          const existing = records.find((stored) =>
            checks.some((field) => input[field] !== undefined && lower(stored[field]) === lower(input[field])),
          );
          if (existing) return this.result(records.update(existing.id, this.stored(input)), 'update', checks[0] ?? null);
          if (!input[ZOHO_MANDATORY[module]!]) {
            return {
              code: 'MANDATORY_NOT_FOUND',
              details: { api_name: ZOHO_MANDATORY[module] },
              message: 'required field not found',
              status: 'error',
            };
          }
          return this.result(records.create(this.stored(input)), 'insert', null);
        }),
      });
    }
    if (method === 'PUT' && !match[2]) {
      return json(200, {
        data: data.map((input) => {
          const id = String(input.id);
          if (!records.byId.has(id))
            return {
              code: 'INVALID_DATA',
              details: { api_name: 'id' },
              message: 'the related id given seems to be invalid',
              status: 'error',
            };
          return this.result(records.update(id, this.stored(input)), 'update', null);
        }),
      });
    }
    return zohoError(405, 'INVALID_REQUEST_METHOD', 'The http request method type is not a valid one');
  }

  private stored(input: Record<string, unknown>): Record<string, unknown> {
    const { id: _id, ...fields } = input;
    return fields;
  }

  private result(record: FakeRecord, action: 'insert' | 'update', duplicateField: string | null) {
    const user = { name: 'Admin', id: '4876876000000225013' };
    return {
      code: 'SUCCESS',
      duplicate_field: duplicateField,
      action,
      details: {
        Modified_Time: zohoTime(record.updatedAt),
        Modified_By: user,
        Created_Time: zohoTime(record.createdAt),
        id: record.id,
        Created_By: user,
      },
      message: action === 'insert' ? 'record added' : 'record updated',
      status: 'success',
    };
  }

  private view(module: string, record: FakeRecord, fields: readonly string[]) {
    const shown: Record<string, unknown> = { id: record.id };
    for (const field of fields.length > 0 ? fields : ZOHO_FIELDS[module]!) {
      if (field === 'Modified_Time') shown.Modified_Time = zohoTime(record.updatedAt);
      else if (field === 'Account_Name' && module !== 'Accounts') {
        const account = this.modules.get('Accounts')!.byId.get(String((record.fields.Account_Name as { id?: string } | null)?.id ?? ''));
        shown.Account_Name = account ? { name: account.fields.Account_Name, id: account.id } : null;
      } else shown[field] = record.fields[field] ?? null;
    }
    return shown;
  }
}
