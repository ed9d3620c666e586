import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, type LoopbackServer } from '@nexusflow/kit/testing';

/** What the provider sends the admin's browser back to the redirect URI with. */
export interface AuthorizationResponse {
  code: string;
  state: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
  /** The body as sent, for JSON APIs. */
  body: string;
}

interface IssuedCode {
  redirectUri: string;
  codeChallenge: string | null;
  scope: string;
}

/** An access token the fake issued, and whether it still works. */
interface IssuedToken {
  refreshToken: string | null;
  revoked: boolean;
}

export const json = (status: number, body: unknown): Reply => ({ status, body });
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
export const token = (prefix: string) => `${prefix}${randomBytes(18).toString('base64url')}`;

/**
 * What the fakes share: a real HTTP server on 127.0.0.1, the admin's consent at the authorization endpoint (granted at
 * once), single-use codes bound to the redirect URI and (where the provider checks it) the PKCE challenge, and the
 * tokens issued, refreshed and revoked, for tests to look at.
 */
export abstract class FakeOAuthProvider {
  private server: LoopbackServer | undefined;
  private readonly codes = new Map<string, IssuedCode>();
  /** Access tokens by value. */
  readonly accessTokens = new Map<string, IssuedToken>();
  /** Refresh tokens that work. */
  protected readonly refreshTokens = new Set<string>();
  /** Every token request's form, in order, for tests that look at what the client sent. */
  readonly tokenRequests: URLSearchParams[] = [];
  /** The tokens revoked, in order. */
  readonly revoked: string[] = [];
  origin = '';

  constructor(
    readonly clientId: string,
    readonly clientSecret: string,
  ) {}

  async start(): Promise<this> {
    this.server = await listenOnLoopback((request, response) => void this.receive(request, response));
    this.origin = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  /**
   * The admin's browser following the authorization URL and consenting: the provider redirects it back to the
   * redirect URI with a code and the state, which is what this returns.
   */
  async consent(authorizationUrl: string): Promise<AuthorizationResponse> {
    const response = await fetch(authorizationUrl, { redirect: 'manual' });
    const location = response.headers.get('location');
    if (response.status !== 302 || !location)
      throw new Error(`the provider did not redirect back: ${response.status} ${await response.text()}`);
    const callback = new URL(location);
    const code = callback.searchParams.get('code');
    const state = callback.searchParams.get('state');
    if (!code || !state) throw new Error(`the provider redirected back without a code: ${location}`);
    return { code, state };
  }

  /** Whether `accessToken` was issued here and still works. */
  works(accessToken: string): boolean {
    const issued = this.accessTokens.get(accessToken);
    return issued !== undefined && !issued.revoked;
  }

  /** Revokes a refresh token as the account's owner would at the provider (uninstalling the app). */
  revokeAtProvider(refreshToken: string): void {
    this.refreshTokens.delete(refreshToken);
  }

  protected abstract route(request: Received): Promise<Reply> | Reply;

  /** The authorization endpoint: checks the request as the provider does, and issues a code. */
  protected authorization(query: URLSearchParams, requiresPkce: boolean): Reply {
    const redirectUri = query.get('redirect_uri');
    if (query.get('client_id') !== this.clientId || !redirectUri)
      return json(400, { error: 'invalid_request', error_description: 'unknown client' });
    if (query.get('response_type') !== 'code') return json(400, { error: 'unsupported_response_type' });
    const challenge = query.get('code_challenge');
    if (requiresPkce && (query.get('code_challenge_method') !== 'S256' || !challenge)) {
      return json(400, { error: 'invalid_request', error_description: 'an S256 code_challenge is required' });
    }
    const code = token('code-');
    this.codes.set(code, { redirectUri, codeChallenge: challenge, scope: query.get('scope') ?? '' });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    if (query.get('state')) back.searchParams.set('state', query.get('state')!);
    return { status: 302, headers: { location: back.href } };
  }

  /** The client's credentials, by form post or HTTP Basic. */
  protected authenticated({ form, headers }: Received): boolean {
    const authorization = headers.authorization;
    const [id, secret] = authorization?.startsWith('Basic ')
      ? Buffer.from(authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent)
      : [form.get('client_id'), form.get('client_secret')];
    return id === this.clientId && secret === this.clientSecret;
  }

  /** The code once, for the redirect URI it was issued to, with the verifier of its PKCE challenge if it had one. */
  protected redeem(form: URLSearchParams): IssuedCode | undefined {
    const issued = this.codes.get(form.get('code') ?? '');
    this.codes.delete(form.get('code') ?? '');
    if (!issued || issued.redirectUri !== form.get('redirect_uri')) return undefined;
    if (issued.codeChallenge !== null && s256(form.get('code_verifier') ?? '') !== issued.codeChallenge) return undefined;
    return issued;
  }

  protected issue(prefix: string, withRefreshToken: string | null): { accessToken: string; refreshToken: string | null } {
    const accessToken = token(prefix);
    this.accessTokens.set(accessToken, { refreshToken: withRefreshToken, revoked: false });
    if (withRefreshToken) this.refreshTokens.add(withRefreshToken);
    return { accessToken, refreshToken: withRefreshToken };
  }

  /** Revokes a refresh token and every access token issued with it, or one access token. */
  protected revoke(value: string): boolean {
    if (this.refreshTokens.delete(value)) {
      for (const issued of this.accessTokens.values()) if (issued.refreshToken === value) issued.revoked = true;
      this.revoked.push(value);
      return true;
    }
    const issued = this.accessTokens.get(value);
    if (!issued || issued.revoked) return false;
    issued.revoked = true;
    this.revoked.push(value);
    return true;
  }

  private async receive(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.origin);
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString();
    const form = new URLSearchParams(body);
    const reply = await this.route({
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      form,
      body,
    });
    response.writeHead(reply.status, {
      ...(reply.body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
      ...reply.headers,
    });
    response.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }
}

/**
 * HubSpot's OAuth as its v1 API has it: `/oauth/authorize` (no PKCE), `/oauth/v1/token` for the authorization_code
 * and refresh_token grants (credentials in the form, tokens for 30 minutes, errors as `{status, message}`),
 * `/oauth/v1/access-tokens/:token` for the portal, and `DELETE /oauth/v1/refresh-tokens/:token` to revoke.
 */
export class FakeHubSpot extends FakeOAuthProvider {
  static readonly EXPIRES_IN = 1800;
  readonly hubId = 62515;
  readonly hubDomain = 'acme-dev.hubspot.com';
  /** The portal's CRM records and what was asked of its CRM API (see HubSpotCrm). */
  readonly crm = new HubSpotCrm();

  protected route(request: Received): Reply | Promise<Reply> {
    const { method, path } = request;
    if (path.startsWith('/crm/v3/') || path.startsWith('/crm/v4/')) {
      const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
      if (!this.works(bearer)) {
        return json(401, { status: 'error', message: 'Authentication credentials not found.', category: 'INVALID_AUTHENTICATION' });
      }
      return this.crm.route(request);
    }
    if (method === 'GET' && path === '/oauth/authorize') return this.authorization(request.query, false);
    if (method === 'POST' && path === '/oauth/v1/token') return this.token(request);
    const info = /^\/oauth\/v1\/access-tokens\/(.+)$/.exec(path);
    if (method === 'GET' && info) {
      const accessToken = decodeURIComponent(info[1]!);
      if (!this.works(accessToken)) return json(404, { status: 'error', message: 'The access token is not valid' });
      return json(200, {
        token: accessToken,
        user: 'admin@acme.example',
        hub_domain: this.hubDomain,
        hub_id: this.hubId,
        app_id: 456,
        expires_in: FakeHubSpot.EXPIRES_IN,
        token_type: 'access',
      });
    }
    const revocation = /^\/oauth\/v1\/refresh-tokens\/(.+)$/.exec(path);
    if (method === 'DELETE' && revocation) {
      return this.revoke(decodeURIComponent(revocation[1]!))
        ? { status: 204 }
        : json(404, { status: 'error', message: 'Refresh token not found' });
    }
    return json(404, { status: 'error', message: `no route ${method} ${path}` });
  }

  private token(request: Received): Reply {
    const { form } = request;
    this.tokenRequests.push(form);
    const refused = (status: string, message: string) => json(400, { status, message, correlationId: 'c0ffee' });
    if (!this.authenticated(request)) return refused('BAD_CLIENT_ID', 'missing or unknown client id');
    let refreshToken: string;
    if (form.get('grant_type') === 'authorization_code') {
      if (!this.redeem(form)) return refused('BAD_AUTH_CODE', 'missing or unknown auth code');
      refreshToken = token('hs-refresh-');
    } else if (form.get('grant_type') === 'refresh_token') {
      refreshToken = form.get('refresh_token') ?? '';
      if (!this.refreshTokens.has(refreshToken)) return refused('BAD_REFRESH_TOKEN', 'missing or invalid refresh token');
    } else {
      return refused('BAD_GRANT_TYPE', 'unsupported grant type');
    }
    const issued = this.issue('hs-access-', refreshToken);
    return json(200, {
      token_type: 'bearer',
      access_token: issued.accessToken,
      refresh_token: refreshToken,
      expires_in: FakeHubSpot.EXPIRES_IN,
    });
  }
}

/**
 * Slack's OAuth v2 for an app with token rotation on: `/oauth/v2/authorize` (no PKCE), `oauth.v2.access` answering
 * HTTP 200 with `ok`, a `bot` token for 12 hours and a refresh token (errors as `{"ok":false,"error":…}`), refreshed
 * through `oauth.v2.access` too, and `auth.revoke` with the access token as bearer.
 */
export class FakeSlack extends FakeOAuthProvider {
  static readonly EXPIRES_IN = 43_200;
  readonly team = { id: 'T0123ACME', name: 'Acme Workspace' };

  protected route(request: Received): Reply {
    const { method, path } = request;
    if (method === 'GET' && path === '/oauth/v2/authorize') return this.authorization(request.query, false);
    if (method === 'POST' && path === '/api/oauth.v2.access') return this.access(request);
    if (method === 'POST' && path === '/api/auth.revoke') {
      const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? request.form.get('token') ?? '';
      return this.revoke(bearer) ? json(200, { ok: true, revoked: true }) : json(200, { ok: false, error: 'invalid_auth' });
    }
    if (method === 'POST' && path === '/api/chat.postMessage') return this.chatPostMessage(request);
    return json(404, { ok: false, error: 'unknown_method' });
  }

  /** Channels of the workspace by id, and whether the app's bot is in each (it must be, to post). */
  readonly channels = new Map([
    ['C0GENERAL', { name: 'general', botIsMember: true }],
    ['C0PRIVATE', { name: 'private', botIsMember: false }],
  ]);
  /** Every message chat.postMessage took, in order. */
  readonly messages: { channel: string; text: string; ts: string; token: string }[] = [];
  /** Answers given to the next chat.postMessage requests instead of posting, first first. */
  readonly nextAnswers: Reply[] = [];
  /** Access tokens Slack now answers `token_expired` to, as it does to a rotated token past its 12 hours. */
  readonly expired = new Set<string>();

  /**
   * Slack's `chat.postMessage` (form or JSON body, bearer token): HTTP 200 with `ok` and the message's `ts`, or
   * `ok: false` with Slack's error (`invalid_auth`, `token_expired`, `channel_not_found`, `not_in_channel`,
   * `no_text`); a rate limit is HTTP 429 with Retry-After.
   */
  private chatPostMessage(request: Received): Reply {
    const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? request.form.get('token') ?? '';
    const refused = (error: string) => json(200, { ok: false, error });
    if (!this.works(bearer)) return refused('invalid_auth');
    if (this.expired.has(bearer)) return refused('token_expired');
    const answer = this.nextAnswers.shift();
    if (answer) return answer;
    const fields = request.headers['content-type']?.startsWith('application/json')
      ? new Map(Object.entries(JSON.parse(request.body) as Record<string, string>))
      : request.form;
    const named = fields.get('channel') ?? '';
    const id = named.startsWith('#') ? [...this.channels].find(([, channel]) => `#${channel.name}` === named)?.[0] : named;
    const channel = id === undefined ? undefined : this.channels.get(id);
    if (!id || !channel) return refused('channel_not_found');
    if (!channel.botIsMember) return refused('not_in_channel');
    const text = fields.get('text') ?? '';
    if (text === '') return refused('no_text');
    const ts = `${Math.floor(Date.now() / 1000)}.${String(this.messages.length + 1).padStart(6, '0')}`;
    this.messages.push({ channel: id, text, ts, token: bearer });
    return json(200, {
      ok: true,
      channel: id,
      ts,
      message: { type: 'message', subtype: 'bot_message', text, bot_id: 'B0BOT', user: 'U0BOT', ts },
    });
  }

  private access(request: Received): Reply {
    const { form } = request;
    this.tokenRequests.push(form);
    const refused = (error: string) => json(200, { ok: false, error });
    if (!this.authenticated(request)) return refused('invalid_client_id');
    if (form.get('grant_type') === 'refresh_token') {
      const refreshToken = form.get('refresh_token') ?? '';
      if (!this.refreshTokens.has(refreshToken)) return refused('invalid_refresh_token');
      return json(200, this.answer(refreshToken));
    }
    const issued = this.redeem(form);
    if (!issued) return refused('invalid_code');
    return json(200, this.answer(token('xoxe-1-'), issued.scope));
  }

  private answer(refreshToken: string, scope = 'chat:write,channels:read,groups:read') {
    const issued = this.issue('xoxb-', refreshToken);
    return {
      ok: true,
      access_token: issued.accessToken,
      token_type: 'bot',
      scope,
      bot_user_id: 'U0BOT',
      app_id: 'A0APP',
      team: this.team,
      enterprise: null,
      authed_user: { id: 'U0ADMIN' },
      refresh_token: refreshToken,
      expires_in: FakeSlack.EXPIRES_IN,
    };
  }
}

/**
 * Salesforce's OAuth 2.0 web server flow: `/services/oauth2/authorize` with PKCE required, `/services/oauth2/token`
 * for the authorization_code and refresh_token grants (no `expires_in`; the instance's URL and the identity URL in
 * the answer), and `/services/oauth2/revoke` (RFC 7009).
 */
export class FakeSalesforce extends FakeOAuthProvider {
  readonly organisationId = '00D5g000004ACME';
  /**
   * Refresh token rotation, as a connected app may turn it on: each refresh answers a new refresh token, and the one it
   * used stops working (a second use is refused with invalid_grant).
   */
  rotateRefreshTokens = false;
  private refreshHold: { arrived: number; released: Promise<void>; release: () => void } | undefined;

  /** Holds every refresh request until `release()`, counting those that arrived: for tests of refreshes at once. */
  holdRefreshes(): { arrived: () => number; release: () => void } {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const hold = { arrived: 0, released, release };
    this.refreshHold = hold;
    return {
      arrived: () => hold.arrived,
      release: () => {
        this.refreshHold = undefined;
        hold.release();
      },
    };
  }

  protected route(request: Received): Promise<Reply> | Reply {
    const { method, path } = request;
    if (method === 'GET' && path === '/services/oauth2/authorize') return this.authorization(request.query, true);
    if (method === 'POST' && path === '/services/oauth2/token') return this.token(request);
    if (method === 'POST' && path === '/services/oauth2/revoke') {
      return this.revoke(request.form.get('token') ?? '')
        ? { status: 200 }
        : json(400, { error: 'unsupported_token_type', error_description: 'Invalid token' });
    }
    return json(404, [{ errorCode: 'NOT_FOUND', message: `no route ${method} ${path}` }]);
  }

  private async token(request: Received): Promise<Reply> {
    const { form } = request;
    const hold = form.get('grant_type') === 'refresh_token' ? this.refreshHold : undefined;
    if (hold) {
      hold.arrived += 1;
      await hold.released;
    }
    this.tokenRequests.push(form);
    if (!this.authenticated(request)) return json(400, { error: 'invalid_client', error_description: 'invalid client credentials' });
    const base = {
      instance_url: this.origin,
      id: `${this.origin}/id/${this.organisationId}/0055g00000ADMIN`,
      token_type: 'Bearer',
      issued_at: String(Date.now()),
      signature: randomBytes(32).toString('base64'),
    };
    if (form.get('grant_type') === 'authorization_code') {
      const issued = this.redeem(form);
      if (!issued) return json(400, { error: 'invalid_grant', error_description: 'authentication failure' });
      const tokens = this.issue('00D!sf-access-', token('5Aep-refresh-'));
      return json(200, { ...base, access_token: tokens.accessToken, refresh_token: tokens.refreshToken, scope: 'api refresh_token' });
    }
    if (form.get('grant_type') === 'refresh_token') {
      const refreshToken = form.get('refresh_token') ?? '';
      if (!this.refreshTokens.has(refreshToken))
        return json(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
      if (this.rotateRefreshTokens) {
        this.refreshTokens.delete(refreshToken);
        const rotated = this.issue('00D!sf-access-', token('5Aep-refresh-'));
        return json(200, { ...base, access_token: rotated.accessToken, refresh_token: rotated.refreshToken, scope: 'api refresh_token' });
      }
      return json(200, { ...base, access_token: this.issue('00D!sf-access-', refreshToken).accessToken, scope: 'api refresh_token' });
    }
    return json(400, { error: 'unsupported_grant_type', error_description: 'grant type not supported' });
  }
}

/** A record of the fake HubSpot portal's CRM, times in ms. */
interface HubSpotRecord {
  id: string;
  properties: Record<string, string | null>;
  createdAt: number;
  updatedAt: number;
}

/** A request the CRM API received: for tests that count pages and look at the waits between requests. */
interface CrmRequest {
  route: string;
  after: string | null;
  at: number;
  status: number;
}

/** The CRM objects the fake portal keeps, by their API names. */
type HubSpotObjectName = 'contacts' | 'companies' | 'deals';
const OBJECT_NAMES: readonly HubSpotObjectName[] = ['contacts', 'companies', 'deals'];
const COMPANY_PROPERTIES = ['name', 'domain', 'industry', 'phone', 'city', 'createdate', 'hs_lastmodifieddate', 'hs_object_id'];
const DEAL_PROPERTIES = [
  'dealname',
  'amount',
  'deal_currency_code',
  'dealstage',
  'pipeline',
  'closedate',
  'createdate',
  'hs_lastmodifieddate',
  'hs_object_id',
];

const CONTACT_PROPERTIES = [
  'email',
  'firstname',
  'lastname',
  'phone',
  'company',
  'jobtitle',
  'lifecyclestage',
  'createdate',
  'hs_lastmodifieddate',
  'hs_object_id',
];

/**
 * HubSpot's CRM v3 API for contacts, companies and deals, as its documentation has it: `GET /crm/v3/properties/<object>`
 * (and one property, and custom properties made by POST, unique-value ones among them), the objects list with `after`
 * paging, the search endpoint (filters, sorts, `after` as an offset), `batch/upsert` by a unique-value property and
 * `batch/update` by id, each record with `updatedAt` (and `hs_lastmodifieddate`) moving forward on every change; and
 * the v4 associations API between deals and companies (batch read answering 207 for deals without any, associate with
 * the default type, archive). Tests script trouble: 429s with HubSpot's rate-limit headers, and failures of a route
 * (after applying it, as a reply lost on the way back).
 */
export class HubSpotCrm {
  readonly contacts = new Map<string, HubSpotRecord>();
  readonly companies = new Map<string, HubSpotRecord>();
  readonly deals = new Map<string, HubSpotRecord>();
  /** Each deal's associated companies' ids. */
  readonly dealCompanies = new Map<string, Set<string>>();
  readonly requests: CrmRequest[] = [];
  private nextId = 1001;
  private lastModified = 0;
  private readonly customProperties = new Map<HubSpotObjectName, { name: string; hasUniqueValue: boolean }[]>();
  private readonly rateLimits: Record<string, string>[] = [];
  private readonly failures: { route: string; afterApplying: boolean; after?: string }[] = [];
  private readonly stalls: { route: string; after: string | null; arrived: () => void; released?: Promise<void> }[] = [];

  /** Back to an empty portal with nothing scripted, for the next test. */
  reset(): void {
    for (const name of OBJECT_NAMES) this.objects(name).clear();
    this.dealCompanies.clear();
    this.customProperties.clear();
    this.requests.length = 0;
    this.rateLimits.length = 0;
    this.failures.length = 0;
    this.stalls.length = 0;
  }

  /** A contact made at HubSpot (by a person there); its id. */
  createContact(properties: Record<string, string>): string {
    return this.createRecord('contacts', properties);
  }

  updateContact(id: string, properties: Record<string, string>): void {
    this.updateRecord('contacts', id, properties);
  }

  contactByEmail(email: string): HubSpotRecord | undefined {
    return [...this.contacts.values()].find((record) => record.properties.email?.toLowerCase() === email.toLowerCase());
  }

  /** A company made at HubSpot; its id. */
  createCompany(properties: Record<string, string>): string {
    return this.createRecord('companies', properties);
  }

  /** A deal made at HubSpot, associated with `companyId` when given; its id. */
  createDeal(properties: Record<string, string>, companyId?: string): string {
    const id = this.createRecord('deals', properties);
    if (companyId !== undefined) this.associate(id, companyId);
    return id;
  }

  updateRecord(object: HubSpotObjectName, id: string, properties: Record<string, string>): void {
    const record = this.objects(object).get(id);
    if (!record) throw new Error(`no ${object} ${id}`);
    Object.assign(record.properties, properties);
    record.updatedAt = this.tick();
  }

  /** Associates a deal with a company, as a person does on HubSpot's deal page (the deal's modification time stays). */
  associate(dealId: string, companyId: string): void {
    this.dealCompanies.set(dealId, new Set([...(this.dealCompanies.get(dealId) ?? []), companyId]));
  }

  /** The ids of the companies a deal is associated with. */
  companiesOf(dealId: string): string[] {
    return [...(this.dealCompanies.get(dealId) ?? [])];
  }

  byProperty(object: HubSpotObjectName, name: string, value: string): HubSpotRecord | undefined {
    return [...this.objects(object).values()].find((record) => record.properties[name] === value);
  }

  objects(object: HubSpotObjectName): Map<string, HubSpotRecord> {
    return object === 'contacts' ? this.contacts : object === 'companies' ? this.companies : this.deals;
  }

  private createRecord(object: HubSpotObjectName, properties: Record<string, string>): string {
    const id = String(this.nextId++);
    const now = this.tick();
    this.objects(object).set(id, { id, properties: { ...properties }, createdAt: now, updatedAt: now });
    return id;
  }

  /** The next `times` requests are refused with 429 and these headers (HubSpot's own by default). */
  rateLimitNext(times: number, headers: Record<string, string> = {}): void {
    for (let index = 0; index < times; index += 1) {
      this.rateLimits.push({
        'X-HubSpot-RateLimit-Max': '100',
        'X-HubSpot-RateLimit-Remaining': '0',
        'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
        ...headers,
      });
    }
  }

  /**
   * The next request to `route` (`POST /crm/v3/objects/contacts/batch/upsert`), or to the page of it starting `after`,
   * fails with a 502, applied first (a reply lost on the way back) or not.
   */
  failNext(route: string, options: { afterApplying: boolean; after?: string }): void {
    this.failures.push({ route, ...options });
  }

  /**
   * The next request to the page of `route` starting `after` is never answered, as by a provider that hangs; resolves
   * once it arrived.
   */
  stallNext(route: string, after: string | null): Promise<void> {
    return new Promise((arrived) => this.stalls.push({ route, after, arrived }));
  }

  /**
   * The next request to the page of `route` starting `after` is answered only when `release` is called, as by a
   * provider slower than usual; `arrived` resolves once it came.
   */
  holdNext(route: string, after: string | null): { arrived: Promise<void>; release: () => void } {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => this.stalls.push({ route, after, arrived: resolve, released }));
    return { arrived, release };
  }

  route(request: Received): Reply | Promise<Reply> {
    const route = `${request.method} ${request.path}`;
    const body = request.body ? (JSON.parse(request.body) as Record<string, any>) : {};
    const after = request.query.get('after') ?? (typeof body.after === 'string' ? body.after : null);
    const stall = this.stalls.findIndex((candidate) => candidate.route === route && candidate.after === after);
    if (stall >= 0) {
      const { arrived, released } = this.stalls.splice(stall, 1)[0]!;
      arrived();
      return released ? released.then(() => this.route(request)) : new Promise<Reply>(() => undefined);
    }
    const reply = this.answer(route, after, request, body);
    this.requests.push({ route, after, at: Date.now(), status: reply.status });
    return reply;
  }

  private answer(route: string, after: string | null, request: Received, body: Record<string, any>): Reply {
    const limited = this.rateLimits.shift();
    if (limited) {
      return {
        status: 429,
        headers: limited,
        body: {
          status: 'error',
          message: 'You have reached your ten_secondly_rolling limit.',
          errorType: 'RATE_LIMIT',
          correlationId: 'c0ffee',
          policyName: 'TEN_SECONDLY_ROLLING',
        },
      };
    }
    const failure = this.failures.findIndex(
      (candidate) => candidate.route === route && (candidate.after === undefined || candidate.after === after),
    );
    const failing = failure >= 0 ? this.failures.splice(failure, 1)[0] : undefined;
    if (failing && !failing.afterApplying) return json(502, { status: 'error', message: 'Bad Gateway' });
    const reply = this.handle(route, request, body);
    return failing ? json(502, { status: 'error', message: 'Bad Gateway' }) : reply;
  }

  private propertiesOf(object: HubSpotObjectName): { name: string; hasUniqueValue: boolean }[] {
    const standard = object === 'contacts' ? CONTACT_PROPERTIES : object === 'companies' ? COMPANY_PROPERTIES : DEAL_PROPERTIES;
    return [
      ...standard.map((name) => ({ name, hasUniqueValue: name === 'hs_object_id' || (object === 'contacts' && name === 'email') })),
      ...(this.customProperties.get(object) ?? []),
    ];
  }

  private handle(route: string, request: Received, body: Record<string, any>): Reply {
    const associations = /^POST \/crm\/v4\/associations\/deals\/companies\/batch\/(read|associate\/default|archive)$/.exec(route);
    if (associations) return this.associations(associations[1]!, body);
    const properties = /^(GET|POST) \/crm\/v3\/properties\/(contacts|companies|deals)(?:\/([^/]+))?$/.exec(route);
    if (properties) return this.properties(properties[1]!, properties[2] as HubSpotObjectName, properties[3], body);
    const match = /^(GET|POST) \/crm\/v3\/objects\/(contacts|companies|deals)(?:\/(search|batch\/upsert|batch\/update))?$/.exec(route);
    if (!match) return json(404, { status: 'error', message: `no route ${route}` });
    const object = match[2] as HubSpotObjectName;
    const records = this.objects(object);
    switch (`${match[1]} ${match[3] ?? ''}`) {
      case 'GET ': {
        const limit = Math.min(Number(request.query.get('limit') ?? 10), 100);
        const shown = (request.query.get('properties') ?? '').split(',').filter(Boolean);
        const sorted = [...records.values()].sort((a, b) => Number(a.id) - Number(b.id));
        const after = request.query.get('after');
        const start = after === null ? 0 : sorted.findIndex((record) => Number(record.id) >= Number(after));
        const page = start < 0 ? [] : sorted.slice(start, start + limit);
        const next = start < 0 ? undefined : sorted[start + limit];
        return json(200, {
          results: page.map((record) => this.view(record, shown)),
          ...(next ? { paging: { next: { after: next.id, link: `?after=${next.id}` } } } : {}),
        });
      }
      case 'POST search': {
        const filters = (body.filterGroups?.[0]?.filters ?? []) as { propertyName: string; operator: string; value: string }[];
        const since = filters.find((filter) => filter.propertyName === 'hs_lastmodifieddate' && filter.operator === 'GTE');
        const matching = [...records.values()]
          .filter((record) => !since || record.updatedAt >= Number(since.value))
          .sort((a, b) => a.updatedAt - b.updatedAt || Number(a.id) - Number(b.id));
        const limit = Math.min(Number(body.limit ?? 10), 200);
        const offset = Number(body.after ?? 0);
        const page = matching.slice(offset, offset + limit);
        const next = offset + limit < matching.length ? String(offset + limit) : null;
        return json(200, {
          total: matching.length,
          results: page.map((record) => this.view(record, body.properties ?? [])),
          ...(next ? { paging: { next: { after: next } } } : {}),
        });
      }
      case 'POST batch/upsert': {
        const inputs = body.inputs as { idProperty: string; id: string; properties: Record<string, string> }[];
        const notUnique = inputs.find(
          (input) => !this.propertiesOf(object).some((property) => property.name === input.idProperty && property.hasUniqueValue),
        );
        if (notUnique) {
          return json(400, {
            status: 'error',
            message: `Property "${notUnique.idProperty}" does not exist or is not a unique identifier property`,
            category: 'VALIDATION_ERROR',
          });
        }
        const results = inputs.map((input) => {
          const existing =
            object === 'contacts' && input.idProperty === 'email'
              ? this.contactByEmail(input.id)
              : this.byProperty(object, input.idProperty, input.id);
          if (existing) {
            this.updateRecord(object, existing.id, input.properties);
            return { ...this.view(existing, Object.keys(input.properties)), new: false };
          }
          const id = this.createRecord(object, { ...input.properties, [input.idProperty]: input.id });
          return { ...this.view(records.get(id)!, Object.keys(input.properties)), new: true };
        });
        return json(200, { status: 'COMPLETE', results, startedAt: new Date().toISOString(), completedAt: new Date().toISOString() });
      }
      case 'POST batch/update': {
        const inputs = body.inputs as { id: string; properties: Record<string, string> }[];
        const missing = inputs.find((input) => !records.has(input.id));
        if (missing) return json(404, { status: 'error', message: `Object not found. objectId are usually numeric. ${missing.id}` });
        const results = inputs.map((input) => {
          this.updateRecord(object, input.id, input.properties);
          return this.view(records.get(input.id)!, Object.keys(input.properties));
        });
        return json(200, { status: 'COMPLETE', results, startedAt: new Date().toISOString(), completedAt: new Date().toISOString() });
      }
      default:
        return json(404, { status: 'error', message: `no route ${route}` });
    }
  }

  /** The properties API: the catalogue, one property, and a custom property made (409 when it exists). */
  private properties(method: string, object: HubSpotObjectName, name: string | undefined, body: Record<string, any>): Reply {
    const known = this.propertiesOf(object);
    const shown = (property: { name: string; hasUniqueValue: boolean }) => ({
      name: property.name,
      label: property.name,
      type: 'string',
      fieldType: 'text',
      hasUniqueValue: property.hasUniqueValue,
    });
    if (method === 'GET' && name === undefined) return json(200, { results: known.map(shown) });
    if (method === 'GET') {
      const property = known.find((candidate) => candidate.name === name);
      return property
        ? json(200, shown(property))
        : json(404, {
            status: 'error',
            message: `Unable to find property ${name} for object type ${object}`,
            category: 'OBJECT_NOT_FOUND',
          });
    }
    if (name !== undefined) return json(405, { status: 'error', message: 'Method not allowed' });
    if (known.some((property) => property.name === body.name)) {
      return json(409, { status: 'error', message: `Property named '${body.name}' already exists.`, category: 'OBJECT_ALREADY_EXISTS' });
    }
    const made = { name: String(body.name), hasUniqueValue: body.hasUniqueValue === true };
    this.customProperties.set(object, [...(this.customProperties.get(object) ?? []), made]);
    return json(201, shown(made));
  }

  /** The v4 associations API between deals and companies, with HubSpot's default association type (deal to company, 5). */
  private associations(action: string, body: Record<string, any>): Reply {
    if (action === 'read') {
      const ids = (body.inputs as { id: string }[]).map((input) => String(input.id));
      const linked = ids.filter((id) => this.companiesOf(id).length > 0);
      const results = linked.map((id) => ({
        from: { id },
        to: this.companiesOf(id).map((companyId) => ({
          toObjectId: Number(companyId),
          associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 5, label: 'Primary' }],
        })),
      }));
      const errors = ids
        .filter((id) => !linked.includes(id))
        .map((id) => ({
          status: 'error',
          category: 'OBJECT_NOT_FOUND',
          message: `No companies is associated with deal ${id}.`,
          context: { fromObjectId: [id] },
        }));
      return json(errors.length > 0 ? 207 : 200, {
        status: 'COMPLETE',
        results,
        ...(errors.length > 0 ? { numErrors: errors.length, errors } : {}),
        startedAt: new Date().toISOString(),
        completedAt: new Date().toISOString(),
      });
    }
    const inputs = body.inputs as { from: { id: string }; to: { id: string } | { id: string }[] }[];
    const missing = inputs.find(
      (input) => !this.deals.has(input.from.id) || [input.to].flat().some((to) => !this.companies.has(String(to.id))),
    );
    if (missing) return json(400, { status: 'error', message: 'One or more objects were not found', category: 'VALIDATION_ERROR' });
    if (action === 'archive') {
      for (const input of inputs) {
        const kept = this.companiesOf(input.from.id).filter((id) => ![input.to].flat().some((to) => String(to.id) === id));
        this.dealCompanies.set(input.from.id, new Set(kept));
      }
      return { status: 204 };
    }
    for (const input of inputs) this.associate(input.from.id, String((input.to as { id: string }).id));
    return json(200, {
      status: 'COMPLETE',
      results: inputs.map((input) => ({
        from: { id: input.from.id },
        to: input.to,
        associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 5 },
      })),
      startedAt: new Date().toISOString(),
      completedAt: new Date().toISOString(),
    });
  }

  /** A record as the API shows it: the properties asked for and the ones it always sends. */
  private view(record: HubSpotRecord, properties: readonly string[]) {
    const shown: Record<string, string | null> = {
      hs_object_id: record.id,
      createdate: new Date(record.createdAt).toISOString(),
      lastmodifieddate: new Date(record.updatedAt).toISOString(),
    };
    for (const name of properties) {
      shown[name] = name === 'hs_lastmodifieddate' ? new Date(record.updatedAt).toISOString() : (record.properties[name] ?? null);
    }
    return {
      id: record.id,
      properties: shown,
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(record.updatedAt).toISOString(),
      archived: false,
    };
  }

  /** Modification times move forward, one millisecond at least, as HubSpot's do. */
  private tick(): number {
    this.lastModified = Math.max(Date.now(), this.lastModified + 1);
    return this.lastModified;
  }
}

/** A mail message a fake mailbox holds. */
export interface FakeMail {
  id: string;
  threadId: string;
  from: string;
  to: string[];
  subject: string;
  body: string;
  receivedAt: Date;
}

/**
 * An authorization server as RFC 6749 has it, with PKCE required (Microsoft's identity platform, Google's): tokens
 * for an hour and a refresh token, errors as `{"error", "error_description"}`; and what its APIs share: bearer tokens
 * checked, a token that `expire`s answered 401, and answers a test queues up served first.
 */
abstract class FakeStandardOAuthProvider extends FakeOAuthProvider {
  static readonly EXPIRES_IN = 3600;
  /** Access tokens the API now answers 401 to, as to one past its hour. */
  readonly expired = new Set<string>();
  /** Answers given to the next API requests instead of their own, first first. */
  readonly nextAnswers: Reply[] = [];

  protected abstract readonly tokenPrefix: string;

  protected standardToken(request: Received): Reply {
    const { form } = request;
    this.tokenRequests.push(form);
    if (!this.authenticated(request)) return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
    let refreshToken: string;
    if (form.get('grant_type') === 'authorization_code') {
      if (!this.redeem(form)) return json(400, { error: 'invalid_grant', error_description: 'the code is invalid or was used' });
      refreshToken = token(`${this.tokenPrefix}refresh-`);
    } else if (form.get('grant_type') === 'refresh_token') {
      refreshToken = form.get('refresh_token') ?? '';
      if (!this.refreshTokens.has(refreshToken))
        return json(400, { error: 'invalid_grant', error_description: 'the refresh token is invalid' });
    } else {
      return json(400, { error: 'unsupported_grant_type' });
    }
    const issued = this.issue(`${this.tokenPrefix}access-`, refreshToken);
    return json(200, {
      token_type: 'Bearer',
      access_token: issued.accessToken,
      refresh_token: refreshToken,
      expires_in: FakeStandardOAuthProvider.EXPIRES_IN,
      scope: form.get('scope') ?? '',
    });
  }

  /** The bearer token of an API request, when it works. */
  protected bearerOf(request: Received): string | undefined {
    const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
    return this.works(bearer) && !this.expired.has(bearer) ? bearer : undefined;
  }
}

/**
 * Microsoft's identity platform (`/common/oauth2/v2.0/authorize` and `/token`, PKCE) and Microsoft Graph v1.0 as
 * Teams and Outlook use it: `POST /teams/{team-id}/channels/{channel-id}/messages` and `POST /chats/{chat-id}/messages`
 * answering 201 with the chatMessage, `GET /me/messages` (`$top`, `$select`, `$orderby`) and `GET /me/messages/{id}`
 * (the body as text with `Prefer: outlook.body-content-type="text"`); errors as `{"error": {"code", "message"}}`, 401
 * `InvalidAuthenticationToken`, 429 with Retry-After.
 */
export class FakeMicrosoft extends FakeStandardOAuthProvider {
  protected readonly tokenPrefix = 'eyJ0-ms-';
  /** Teams' channels by `<team id>/<channel id>`, and its chats by id. */
  readonly conversations = new Set(['team-1/19:general@thread.tacv2', '19:chat-with-ada@thread.v2']);
  /** Every message Graph took, in order. */
  readonly posted: { conversation: string; content: string; contentType: string; id: string }[] = [];
  readonly mailbox: FakeMail[] = [];

  protected route(request: Received): Reply | Promise<Reply> {
    const { method, path } = request;
    if (method === 'GET' && path === '/common/oauth2/v2.0/authorize') return this.authorization(request.query, true);
    if (method === 'POST' && path === '/common/oauth2/v2.0/token') return this.standardToken(request);
    if (!path.startsWith('/v1.0/')) return json(404, { error: { code: 'NotFound', message: `no route ${method} ${path}` } });
    if (!this.bearerOf(request)) {
      return json(401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token has expired or is not yet valid.' } });
    }
    const answer = this.nextAnswers.shift();
    if (answer) return answer;
    const channel = /^\/v1\.0\/teams\/([^/]+)\/channels\/([^/]+)\/messages$/.exec(path);
    const chat = /^\/v1\.0\/chats\/([^/]+)\/messages$/.exec(path);
    if (method === 'POST' && (channel || chat)) {
      const conversation = channel
        ? `${decodeURIComponent(channel[1]!)}/${decodeURIComponent(channel[2]!)}`
        : decodeURIComponent(chat![1]!);
      return this.post(conversation, request.body);
    }
    if (method === 'GET' && path === '/v1.0/me/messages') {
      const top = Number(request.query.get('$top') ?? 10);
      const newest = [...this.mailbox].sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime()).slice(0, top);
      return json(200, {
        '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users/messages',
        value: newest.map((mail) => this.view(mail, false, false)),
      });
    }
    const one = /^\/v1\.0\/me\/messages\/([^/]+)$/.exec(path);
    if (method === 'GET' && one) {
      const mail = this.mailbox.find((candidate) => candidate.id === decodeURIComponent(one[1]!));
      if (!mail) return json(404, { error: { code: 'ErrorItemNotFound', message: 'The specified object was not found in the store.' } });
      const asText = request.headers.prefer === 'outlook.body-content-type="text"';
      return json(200, this.view(mail, true, asText));
    }
    return json(404, { error: { code: 'NotFound', message: `no route ${method} ${path}` } });
  }

  private post(conversation: string, body: string): Reply {
    if (!this.conversations.has(conversation))
      return json(404, { error: { code: 'NotFound', message: 'Resource not found for the segment.' } });
    const message = JSON.parse(body) as { body?: { content?: string; contentType?: string } };
    const content = message.body?.content ?? '';
    if (content === '') return json(400, { error: { code: 'BadRequest', message: 'Missing body content' } });
    const id = String(1_700_000_000_000 + this.posted.length);
    this.posted.push({ conversation, content, contentType: message.body?.contentType ?? 'html', id });
    return json(201, {
      id,
      messageType: 'message',
      createdDateTime: new Date().toISOString(),
      body: { contentType: message.body?.contentType ?? 'html', content },
      from: { user: { id: 'user-1', displayName: 'Admin' } },
    });
  }

  private view(mail: FakeMail, withBody: boolean, asText: boolean) {
    return {
      id: mail.id,
      conversationId: mail.threadId,
      subject: mail.subject,
      bodyPreview: mail.body.slice(0, 255),
      receivedDateTime: mail.receivedAt.toISOString(),
      from: { emailAddress: { name: mail.from, address: mail.from } },
      toRecipients: mail.to.map((address) => ({ emailAddress: { name: address, address } })),
      ...(withBody
        ? { body: asText ? { contentType: 'text', content: mail.body } : { contentType: 'html', content: `<p>${mail.body}</p>` } }
        : {}),
    };
  }
}

/**
 * Google's OAuth 2.0 (`/o/oauth2/v2/auth` with PKCE, `/token`) and the Gmail API v1: `users.messages.list`
 * (`maxResults`; ids and thread ids only) and `users.messages.get` (`format=metadata` with `metadataHeaders`, or
 * `format=full` with the MIME tree, bodies base64url); errors as `{"error": {"code", "message", "status"}}`.
 */
export class FakeGoogle extends FakeStandardOAuthProvider {
  protected readonly tokenPrefix = 'ya29-';
  readonly mailbox: FakeMail[] = [];

  protected route(request: Received): Reply | Promise<Reply> {
    const { method, path } = request;
    if (method === 'GET' && path === '/o/oauth2/v2/auth') return this.authorization(request.query, true);
    if (method === 'POST' && path === '/token') return this.standardToken(request);
    const googleError = (code: number, status: string, message: string) =>
      json(code, { error: { code, message, status, errors: [{ message, reason: status }] } });
    if (!path.startsWith('/gmail/v1/')) return googleError(404, 'NOT_FOUND', `no route ${method} ${path}`);
    if (!this.bearerOf(request)) return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    const answer = this.nextAnswers.shift();
    if (answer) return answer;
    const newest = [...this.mailbox].sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime());
    if (method === 'GET' && path === '/gmail/v1/users/me/messages') {
      const page = newest.slice(0, Number(request.query.get('maxResults') ?? 100));
      return json(200, { messages: page.map((mail) => ({ id: mail.id, threadId: mail.threadId })), resultSizeEstimate: newest.length });
    }
    const one = /^\/gmail\/v1\/users\/me\/messages\/([^/]+)$/.exec(path);
    if (method === 'GET' && one) {
      const mail = this.mailbox.find((candidate) => candidate.id === decodeURIComponent(one[1]!));
      if (!mail) return googleError(404, 'NOT_FOUND', 'Requested entity was not found.');
      const allHeaders = [
        { name: 'From', value: mail.from },
        { name: 'To', value: mail.to.join(', ') },
        { name: 'Subject', value: mail.subject },
        { name: 'Date', value: mail.receivedAt.toUTCString() },
      ];
      const format = request.query.get('format') ?? 'full';
      const wanted = request.query.getAll('metadataHeaders').map((name) => name.toLowerCase());
      const headers = format === 'metadata' ? allHeaders.filter((header) => wanted.includes(header.name.toLowerCase())) : allHeaders;
      const encoded = (text: string) => ({ size: text.length, data: Buffer.from(text).toString('base64url') });
      const payload =
        format === 'metadata'
          ? { mimeType: 'multipart/alternative', headers }
          : {
              mimeType: 'multipart/alternative',
              headers,
              body: { size: 0 },
              parts: [
                { partId: '0', mimeType: 'text/plain', headers: [], body: encoded(mail.body) },
                { partId: '1', mimeType: 'text/html', headers: [], body: encoded(`<div>${mail.body}</div>`) },
              ],
            };
      return json(200, {
        id: mail.id,
        threadId: mail.threadId,
        labelIds: ['INBOX'],
        snippet: mail.body.slice(0, 100),
        internalDate: String(mail.receivedAt.getTime()),
        payload,
      });
    }
    return googleError(404, 'NOT_FOUND', `no route ${method} ${path}`);
  }
}

/**
 * Zapier's and Make's catch hooks: any POST to a hook URL on this server is a delivery, answered as Zapier answers
 * (`{"status": "success", …}`), or with what a test queued (410 Gone for a deleted hook, 429, 5xx).
 */
export class FakeHooks {
  private server: LoopbackServer | undefined;
  origin = '';
  /** Every delivery, in order. */
  readonly deliveries: { path: string; contentType: string | undefined; payload: unknown }[] = [];
  readonly nextAnswers: Reply[] = [];

  async start(): Promise<this> {
    this.server = await listenOnLoopback((request, response) => void this.receive(request, response));
    this.origin = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private async receive(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const answer = this.nextAnswers.shift();
    if (!answer && request.method === 'POST') {
      this.deliveries.push({
        path: new URL(request.url ?? '/', this.origin).pathname,
        contentType: request.headers['content-type'],
        payload: JSON.parse(Buffer.concat(chunks).toString() || 'null') as unknown,
      });
    }
    const reply =
      answer ??
      json(200, {
        attempt: randomBytes(8).toString('hex'),
        id: randomBytes(8).toString('hex'),
        request_id: randomBytes(8).toString('hex'),
        status: 'success',
      });
    response.writeHead(reply.status, { ...(reply.body === undefined ? {} : { 'content-type': 'application/json' }), ...reply.headers });
    response.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }
}
