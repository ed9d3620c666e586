import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { listenOnLoopback, type LoopbackServer } from '@nexusflow/kit/testing';

/** A person signed in at the provider, in the browser the test drives: the provider knows them by this session cookie. */
export interface ProviderSession {
  cookie: string;
}

/** What the provider sends the browser back to the client with. */
export interface AuthorizationResponse {
  redirectUri: string;
  code: string;
  state: string;
}

/** A person's account at a fake OpenID Connect provider. */
export interface OpenIdAccount {
  subject: string;
  /** Null: its ID tokens carry no `email` claim. */
  email: string | null;
  emailVerified: boolean;
  name: string;
  /** Further claims of its ID tokens, e.g. Microsoft's `tid` and `xms_edov`. */
  claims?: Record<string, unknown>;
}

/** A person's account at the fake GitHub. */
export interface GitHubAccount {
  id: number;
  login: string;
  name: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

/** How the next ID token is wrong, as a broken or hostile provider (or one in the middle) would make it. */
export type IdTokenFault =
  | 'signed-with-another-key'
  | 'signed-with-an-unknown-key'
  | 'for-another-audience'
  | 'with-another-nonce'
  | 'expired'
  | 'from-another-issuer';

interface IssuedCode<Account> {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  nonce: string | undefined;
  account: Account;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

const json = (status: number, body: unknown): Reply => ({ status, body });
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

/**
 * What both fakes share: a real HTTP server on 127.0.0.1, the browser's side of the authorization endpoint (a
 * signed-in session cookie chooses the account), and single-use codes bound to client, redirect URI and PKCE challenge.
 */
abstract class FakeAuthorizationServer<Account> {
  private server: LoopbackServer | undefined;
  private readonly sessions = new Map<string, Account>();
  private readonly codes = new Map<string, IssuedCode<Account>>();
  /** Every token request's form, in order, for tests that look at what the client sent. */
  readonly tokenRequests: URLSearchParams[] = [];
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

  /** Signs `account` in at the provider, in a browser of its own. */
  signIn(account: Account): ProviderSession {
    const cookie = `fake_session=${randomUUID()}`;
    this.sessions.set(cookie, account);
    return { cookie };
  }

  /**
   * The browser following the client's authorization URL while signed in as `session`: the provider redirects it back
   * to the redirect URI with a code and the state, which is what this returns.
   */
  async authorize(authorizationUrl: string, session: ProviderSession): Promise<AuthorizationResponse> {
    const response = await fetch(authorizationUrl, { redirect: 'manual', headers: { cookie: session.cookie } });
    const location = response.headers.get('location');
    if (response.status !== 302 || !location)
      throw new Error(`the provider did not redirect back: ${response.status} ${await response.text()}`);
    const callback = new URL(location);
    const code = callback.searchParams.get('code');
    const state = callback.searchParams.get('state');
    if (!code || !state) throw new Error(`the provider redirected back without a code: ${location}`);
    return { redirectUri: `${callback.origin}${callback.pathname}`, code, state };
  }

  protected abstract route(
    method: string,
    path: string,
    request: { query: URLSearchParams; headers: IncomingMessage['headers']; form: URLSearchParams },
  ): Promise<Reply>;

  /** The authorization endpoint: checks the request as a provider does, and issues a code for the signed-in account. */
  protected authorization(query: URLSearchParams, cookie: string | undefined, requiresNonce: boolean): Reply {
    const redirectUri = query.get('redirect_uri');
    if (query.get('client_id') !== this.clientId || !redirectUri)
      return json(400, { error: 'invalid_request', error_description: 'unknown client' });
    const challenge = query.get('code_challenge');
    if (query.get('response_type') !== 'code' || query.get('code_challenge_method') !== 'S256' || !challenge) {
      return json(400, { error: 'invalid_request', error_description: 'code with an S256 PKCE challenge only' });
    }
    const nonce = query.get('nonce') ?? undefined;
    if (requiresNonce && !nonce) return json(400, { error: 'invalid_request', error_description: 'nonce required' });
    const account = cookie ? this.sessions.get(cookie) : undefined;
    if (!account) return json(401, { error: 'login_required' });
    const code = randomBytes(16).toString('base64url');
    this.codes.set(code, { clientId: this.clientId, redirectUri, codeChallenge: challenge, nonce, account });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    if (query.get('state')) back.searchParams.set('state', query.get('state')!);
    return { status: 302, headers: { location: back.href } };
  }

  /** The token endpoint's checks: client credentials (post or basic), the code once, its redirect URI, PKCE. */
  protected redeem(form: URLSearchParams, authorization: string | undefined): IssuedCode<Account> | { error: string } {
    this.tokenRequests.push(form);
    const [basicId, basicSecret] = authorization?.startsWith('Basic ')
      ? Buffer.from(authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent)
      : [form.get('client_id'), form.get('client_secret')];
    if (basicId !== this.clientId || basicSecret !== this.clientSecret) return { error: 'invalid_client' };
    if (form.get('grant_type') !== 'authorization_code') return { error: 'unsupported_grant_type' };
    const issued = this.codes.get(form.get('code') ?? '');
    this.codes.delete(form.get('code') ?? '');
    if (!issued || issued.redirectUri !== form.get('redirect_uri')) return { error: 'invalid_grant' };
    if (s256(form.get('code_verifier') ?? '') !== issued.codeChallenge) return { error: 'invalid_grant' };
    return issued;
  }

  private async receive(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.origin);
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const reply = await this.route(request.method ?? 'GET', url.pathname, { query: url.searchParams, headers: request.headers, form });
    response.writeHead(reply.status, { ...(reply.body === undefined ? {} : { 'content-type': 'application/json' }), ...reply.headers });
    response.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }
}

/**
 * An OpenID Connect provider like Google's or Microsoft's: discovery, JWKS, authorization and token endpoints under
 * its issuer, RS256 ID tokens carrying the nonce. A test can make its next ID token wrong with {@link issueNextIdToken}.
 */
export class FakeOpenIdProvider extends FakeAuthorizationServer<OpenIdAccount> {
  private signingKey!: { privateKey: CryptoKey; jwk: JWK };
  private strangerKey!: CryptoKey;
  private nextFault: IdTokenFault | undefined;

  /**
   * @param shape.path where under its origin its endpoints are, e.g. `/<tenant id>/v2.0` like a Microsoft directory's
   * @param shape.publicOrigin the origin it names in discovery and tokens, when a test reaches it under another one
   * @param shape.issuerPerTenant like Microsoft's `common` endpoint: discovery names the issuer `<origin>/{tenantid}/v2.0`,
   *   and each ID token the issuer of its account's directory (its `tid` claim)
   */
  constructor(
    clientId: string,
    clientSecret: string,
    private readonly shape: { path?: string; publicOrigin?: string; issuerPerTenant?: boolean } = {},
  ) {
    super(clientId, clientSecret);
  }

  /** Where its endpoints are, as it names them. */
  get baseUrl(): string {
    return `${this.shape.publicOrigin ?? this.origin}${this.shape.path ?? ''}`;
  }

  /** The issuer its discovery document names. */
  get issuer(): string {
    return this.shape.issuerPerTenant ? `${this.shape.publicOrigin ?? this.origin}/{tenantid}/v2.0` : this.baseUrl;
  }

  override async start(): Promise<this> {
    const signing = await generateKeyPair('RS256');
    this.signingKey = {
      privateKey: signing.privateKey,
      jwk: { ...(await exportJWK(signing.publicKey)), kid: 'fake-key-1', alg: 'RS256', use: 'sig' },
    };
    this.strangerKey = (await generateKeyPair('RS256')).privateKey;
    return super.start();
  }

  /** Makes the next ID token wrong in one way; the one after is right again. */
  issueNextIdToken(fault: IdTokenFault): this {
    this.nextFault = fault;
    return this;
  }

  protected async route(
    method: string,
    path: string,
    { query, headers, form }: Parameters<FakeAuthorizationServer<OpenIdAccount>['route']>[2],
  ): Promise<Reply> {
    const prefix = this.shape.path ?? '';
    if (!path.startsWith(prefix)) return json(404, { error: 'not_found' });
    switch (`${method} ${path.slice(prefix.length)}`) {
      case 'GET /.well-known/openid-configuration':
        return json(200, {
          issuer: this.issuer,
          authorization_endpoint: `${this.baseUrl}/authorize`,
          token_endpoint: `${this.baseUrl}/token`,
          jwks_uri: `${this.baseUrl}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
          scopes_supported: ['openid', 'email', 'profile'],
        });
      case 'GET /jwks':
        return json(200, { keys: [this.signingKey.jwk] });
      case 'GET /authorize':
        return this.authorization(query, headers.cookie, true);
      case 'POST /token': {
        const issued = this.redeem(form, headers.authorization);
        if ('error' in issued) return json(400, issued);
        return json(200, {
          access_token: randomBytes(16).toString('base64url'),
          token_type: 'Bearer',
          expires_in: 3600,
          scope: 'openid email profile',
          id_token: await this.idToken(issued),
        });
      }
      default:
        return json(404, { error: 'not_found' });
    }
  }

  private async idToken({ account, nonce }: IssuedCode<OpenIdAccount>): Promise<string> {
    const fault = this.nextFault;
    this.nextFault = undefined;
    const now = Math.floor(Date.now() / 1000);
    const issuedAt = fault === 'expired' ? now - 2 * 3600 : now;
    return new SignJWT({
      ...account.claims,
      ...(account.email === null ? {} : { email: account.email, email_verified: account.emailVerified }),
      name: account.name,
      nonce: fault === 'with-another-nonce' ? randomBytes(16).toString('base64url') : nonce,
    })
      .setProtectedHeader({ alg: 'RS256', kid: fault === 'signed-with-an-unknown-key' ? 'unknown-key' : this.signingKey.jwk.kid! })
      .setIssuer(
        fault === 'from-another-issuer' ? 'https://issuer.example' : this.issuer.replace('{tenantid}', String(account.claims?.tid)),
      )
      .setSubject(account.subject)
      .setAudience(fault === 'for-another-audience' ? 'another-client' : this.clientId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 3600)
      .sign(fault === 'signed-with-another-key' || fault === 'signed-with-an-unknown-key' ? this.strangerKey : this.signingKey.privateKey);
  }
}

/** GitHub's OAuth 2.0 (no OpenID Connect) and the parts of its REST API a sign-in reads: `/user` and `/user/emails`. */
export class FakeGitHub extends FakeAuthorizationServer<GitHubAccount> {
  private readonly accessTokens = new Map<string, GitHubAccount>();

  protected async route(
    method: string,
    path: string,
    { query, headers, form }: Parameters<FakeAuthorizationServer<GitHubAccount>['route']>[2],
  ): Promise<Reply> {
    switch (`${method} ${path}`) {
      case 'GET /login/oauth/authorize':
        return this.authorization(query, headers.cookie, false);
      case 'POST /login/oauth/access_token': {
        const issued = this.redeem(form, headers.authorization);
        // GitHub answers a refused code with 200 and an error body.
        if ('error' in issued) return json(200, { error: issued.error === 'invalid_grant' ? 'bad_verification_code' : issued.error });
        const accessToken = `gho_${randomBytes(16).toString('hex')}`;
        this.accessTokens.set(accessToken, issued.account);
        return json(200, { access_token: accessToken, token_type: 'bearer', scope: 'read:user,user:email' });
      }
      case 'GET /user':
      case 'GET /user/emails': {
        const account = this.accessTokens.get(headers.authorization?.replace(/^Bearer /, '') ?? '');
        if (!account) return json(401, { message: 'Bad credentials' });
        return path === '/user' ? json(200, { id: account.id, login: account.login, name: account.name }) : json(200, account.emails);
      }
      default:
        return json(404, { message: 'Not Found' });
    }
  }
}
