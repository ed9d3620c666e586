import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the provider sends the admin's browser back to the redirect URI with. */
export interface AuthorizationResponse {
  code: string;
  state: string;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
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

const json = (status: number, body: unknown): Reply => ({ status, body });
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const token = (prefix: string) => `${prefix}${randomBytes(18).toString('base64url')}`;

/**
 * What the fakes share: a real HTTP server on 127.0.0.1, the admin's consent at the authorization endpoint (granted at
 * once), single-use codes bound to the redirect URI and (where the provider checks it) the PKCE challenge, and the
 * tokens issued, refreshed and revoked, for tests to look at.
 */
abstract class FakeOAuthProvider {
  private server: Server | undefined;
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
    this.server = createServer((request, response) => void this.receive(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
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
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const reply = await this.route({
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      form,
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

  protected route(request: Received): Reply {
    const { method, path } = request;
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
    return json(404, { ok: false, error: 'unknown_method' });
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

  protected route(request: Received): Reply {
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

  private token(request: Received): Reply {
    const { form } = request;
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
      return json(200, { ...base, access_token: this.issue('00D!sf-access-', refreshToken).accessToken, scope: 'api refresh_token' });
    }
    return json(400, { error: 'unsupported_grant_type', error_description: 'grant type not supported' });
  }
}
