import * as oidc from 'openid-client';
import type { GitHubSettings, OidcSettings, OpenIdProviderSettings } from './oidc-settings.ts';

export type IdentityProviderName = 'GOOGLE' | 'MICROSOFT' | 'GITHUB';

/** Who the provider says signed in. `emailVerified` is true only when the provider vouches that the person owns `email`. */
export interface ExternalProfile {
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string;
}

/** What one sign-in sends the provider; the secrets are the server's, never the client's. */
export interface AuthorizationRequest {
  redirectUri: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Why the provider's answer was not accepted: it refused or failed (`PROVIDER_ERROR`), or its ID token did not check out. */
export class IdentityProviderError extends Error {
  constructor(
    readonly reason: 'PROVIDER_ERROR' | 'INVALID_ID_TOKEN',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'IdentityProviderError';
  }
}

export interface IdentityProvider {
  readonly name: IdentityProviderName;
  /** Where to send the person: the provider's authorization endpoint with PKCE (S256), state and, for OIDC, nonce. */
  authorizationUrl(request: AuthorizationRequest): Promise<URL>;
  /** Redeems the code and tells who signed in; throws {@link IdentityProviderError}. */
  profile(request: AuthorizationRequest & { code: string }): Promise<ExternalProfile>;
}

/** Seconds a provider has to answer one request. */
const PROVIDER_TIMEOUT_SECONDS = 10;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** HTTPS only, except on this machine: a provider reached over plain HTTP elsewhere could be anyone. */
const allowsPlainHttp = (url: URL) => url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);

/** The callback as the provider would have called it: openid-client checks `state` on it and takes redirect_uri from it. */
function callbackUrl({ redirectUri, code, state }: { redirectUri: string; code: string; state: string }): URL {
  const url = new URL(redirectUri);
  url.searchParams.set('code', code);
  url.searchParams.set('state', state);
  return url;
}

/** The oauth4webapi codes of an ID token that failed its checks: signature and key, `iss`, `aud`, `exp`/`iat`, `nonce`. */
const ID_TOKEN_FAILURES = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED', 'OAUTH_KEY_SELECTION_FAILED']);

function asProviderError(error: unknown): IdentityProviderError {
  if (error instanceof IdentityProviderError) return error;
  const code = (error as { code?: unknown }).code;
  const cause = (error as { cause?: { message?: unknown } }).cause;
  const badSignature = code === 'OAUTH_INVALID_RESPONSE' && cause?.message === 'JWT signature verification failed';
  if ((typeof code === 'string' && ID_TOKEN_FAILURES.has(code)) || badSignature) {
    return new IdentityProviderError('INVALID_ID_TOKEN', 'The identity provider sent an ID token that does not check out', {
      cause: error,
    });
  }
  return new IdentityProviderError('PROVIDER_ERROR', 'The identity provider refused or failed the sign-in', { cause: error });
}

const isTrue = (claim: unknown) => claim === true || claim === 'true';

/**
 * An OpenID Connect provider through openid-client: discovery (cached once it succeeds), authorization code with PKCE,
 * and the ID token checked against the provider's JWKS: signature, `iss`, `aud`, `exp`, `nonce`.
 */
class OpenIdConnectProvider implements IdentityProvider {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(
    readonly name: IdentityProviderName,
    private readonly settings: OpenIdProviderSettings,
    private readonly scope: string,
    private readonly toProfile: (claims: oidc.IDToken) => ExternalProfile,
    private readonly fetch: oidc.CustomFetch | undefined,
  ) {}

  async authorizationUrl({ redirectUri, state, nonce, codeVerifier }: AuthorizationRequest): Promise<URL> {
    return oidc.buildAuthorizationUrl(await this.discovered(), {
      redirect_uri: redirectUri,
      scope: this.scope,
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
  }

  async profile(request: AuthorizationRequest & { code: string }): Promise<ExternalProfile> {
    try {
      const tokens = await oidc.authorizationCodeGrant(await this.discovered(), callbackUrl(request), {
        pkceCodeVerifier: request.codeVerifier,
        expectedState: request.state,
        expectedNonce: request.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      if (!claims) throw new IdentityProviderError('INVALID_ID_TOKEN', 'The identity provider sent no ID token');
      return this.toProfile(claims);
    } catch (error) {
      throw asProviderError(error);
    }
  }

  /** A discovery that failed is tried again at the next sign-in rather than remembered. */
  private discovered(): Promise<oidc.Configuration> {
    const issuer = new URL(this.settings.issuer);
    this.configuration ??= oidc
      .discovery(issuer, this.settings.clientId, this.settings.clientSecret, undefined, {
        // openid-client trusts an ID token from the token endpoint on TLS alone (OIDC Core 3.1.3.7) unless told to check
        // its signature against the provider's JWKS as well: a token endpoint reached through a proxy is then no weaker.
        execute: [oidc.enableNonRepudiationChecks, ...(allowsPlainHttp(issuer) ? [oidc.allowInsecureRequests] : [])],
        timeout: PROVIDER_TIMEOUT_SECONDS,
        ...(this.fetch ? { [oidc.customFetch]: this.fetch } : {}),
      })
      .catch((error: unknown) => {
        this.configuration = undefined;
        throw asProviderError(error);
      });
    return this.configuration;
  }
}

interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
}

/**
 * GitHub is OAuth 2.0 without OpenID Connect: code with PKCE and state through openid-client, then who signed in from
 * its REST API. Only the primary email, and only when GitHub verified it, counts.
 */
class GitHubProvider implements IdentityProvider {
  readonly name = 'GITHUB';
  private readonly configuration: oidc.Configuration;

  constructor(private readonly settings: GitHubSettings) {
    const base = new URL(settings.baseUrl);
    this.configuration = new oidc.Configuration(
      {
        issuer: base.href,
        authorization_endpoint: new URL('/login/oauth/authorize', base).href,
        token_endpoint: new URL('/login/oauth/access_token', base).href,
      },
      settings.clientId,
      settings.clientSecret,
    );
    this.configuration.timeout = PROVIDER_TIMEOUT_SECONDS;
    if (allowsPlainHttp(base)) oidc.allowInsecureRequests(this.configuration);
  }

  async authorizationUrl({ redirectUri, state, codeVerifier }: AuthorizationRequest): Promise<URL> {
    return oidc.buildAuthorizationUrl(this.configuration, {
      redirect_uri: redirectUri,
      scope: 'read:user user:email',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
  }

  async profile(request: AuthorizationRequest & { code: string }): Promise<ExternalProfile> {
    try {
      const tokens = await oidc.authorizationCodeGrant(this.configuration, callbackUrl(request), {
        pkceCodeVerifier: request.codeVerifier,
        expectedState: request.state,
      });
      const user = (await this.api(tokens.access_token, '/user')) as { id?: unknown; login?: unknown; name?: unknown };
      const emails = (await this.api(tokens.access_token, '/user/emails')) as GitHubEmail[];
      if (typeof user.id !== 'number' || !Array.isArray(emails)) {
        throw new IdentityProviderError('PROVIDER_ERROR', 'GitHub answered with an unexpected user');
      }
      const primary = emails.find((email) => email.primary === true && email.verified === true);
      const name = typeof user.name === 'string' && user.name.trim() ? user.name : typeof user.login === 'string' ? user.login : '';
      return { subject: String(user.id), email: primary?.email ?? null, emailVerified: primary !== undefined, name };
    } catch (error) {
      throw asProviderError(error);
    }
  }

  private async api(accessToken: string, path: string): Promise<unknown> {
    const response = await fetch(new URL(path, this.settings.apiUrl), {
      headers: {
        authorization: `Bearer ${accessToken}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'user-agent': 'NexusFlow',
      },
      signal: AbortSignal.timeout(PROVIDER_TIMEOUT_SECONDS * 1000),
    });
    if (!response.ok) throw new IdentityProviderError('PROVIDER_ERROR', `GitHub answered ${path} with HTTP ${response.status}`);
    return response.json();
  }
}

const googleProfile = (claims: oidc.IDToken): ExternalProfile => ({
  subject: claims.sub,
  email: typeof claims.email === 'string' ? claims.email : null,
  emailVerified: isTrue(claims.email_verified),
  name: typeof claims.name === 'string' ? claims.name : '',
});

/**
 * Microsoft's `email` is an attribute of the account that its owner or their directory's admin may set to anything;
 * `xms_edov` (an optional claim) says the email's domain is verified as the directory's own. `preferred_username` is
 * a sign-in hint, not necessarily an email and never verified: it is not used.
 */
const microsoftProfile =
  (trustEmail: boolean) =>
  (claims: oidc.IDToken): ExternalProfile => ({
    subject: claims.sub,
    email: typeof claims.email === 'string' ? claims.email : null,
    emailVerified: typeof claims.email === 'string' && (trustEmail || isTrue(claims.xms_edov)),
    name: typeof claims.name === 'string' ? claims.name : '',
  });

/**
 * The providers whose credentials are configured, by name.
 *
 * @param fetch how the OpenID Connect providers are reached: global fetch unless given
 */
export function configuredProviders(settings: OidcSettings, fetch?: oidc.CustomFetch): Map<IdentityProviderName, IdentityProvider> {
  const providers = new Map<IdentityProviderName, IdentityProvider>();
  const scope = 'openid email profile';
  if (settings.google) providers.set('GOOGLE', new OpenIdConnectProvider('GOOGLE', settings.google, scope, googleProfile, fetch));
  if (settings.microsoft) {
    const profile = microsoftProfile(settings.microsoft.trustEmail);
    providers.set('MICROSOFT', new OpenIdConnectProvider('MICROSOFT', settings.microsoft, scope, profile, fetch));
  }
  if (settings.github) providers.set('GITHUB', new GitHubProvider(settings.github));
  return providers;
}
