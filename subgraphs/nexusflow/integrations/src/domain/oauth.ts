import * as oidc from 'openid-client';
import { endpointOn, type OAuthDefinition, type ProviderSettings } from './providers.ts';

/** What a provider granted: the tokens, and what it says of the account they act for. */
export interface Grant {
  accessToken: string;
  /** Null when the provider issues none (Slack without token rotation); a refresh that returns none keeps the old one. */
  refreshToken: string | null;
  /** Null when the token does not expire. */
  expiresAt: Date | null;
  scopes: string[];
  account: { id: string | null; label: string | null; apiBaseUrl: string | null };
}

/** The tokens kept for one integration, as sealed in its row. */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string | null;
}

/**
 * Why a provider's answer was not a grant. REFUSED: it said no (`invalid_grant`: a used or expired code, a revoked
 * refresh token), in its own words; UNREACHABLE: it did not answer in time, or not over HTTP; INVALID_RESPONSE: it
 * answered something that is not OAuth 2.0.
 */
export class ProviderError extends Error {
  constructor(
    readonly reason: 'REFUSED' | 'UNREACHABLE' | 'INVALID_RESPONSE',
    message: string,
    /** The provider's OAuth error code, e.g. `invalid_grant`. */
    readonly providerError?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

const splitScopes = (scope: unknown) => (typeof scope === 'string' ? scope.split(/[\s,]+/).filter((part) => part !== '') : []);

const hostOf = (url: unknown) => {
  if (typeof url !== 'string') return null;
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
};

const asJsonResponse = (status: number, body: unknown, from: Response) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', date: from.headers.get('date') ?? '' } });

/** HubSpot's error statuses, as the RFC 6749 errors they stand for. */
const HUBSPOT_ERRORS: Readonly<Record<string, string>> = {
  BAD_AUTH_CODE: 'invalid_grant',
  BAD_REFRESH_TOKEN: 'invalid_grant',
  BAD_CLIENT_ID: 'invalid_client',
  BAD_CLIENT_SECRET: 'invalid_client',
  BAD_REDIRECT_URI: 'invalid_grant',
  BAD_GRANT_TYPE: 'unsupported_grant_type',
};

/**
 * Reads Slack's, Zoho's and HubSpot's token answers as the RFC 6749 answers they stand for: an error sent with HTTP
 * 200 (`{"ok":false,"error":"invalid_code"}`, `{"error":"invalid_code"}`) as a 400 error response, HubSpot's
 * `{"status":"BAD_REFRESH_TOKEN","message":…}` as the OAuth error it means, and Slack's token types (`bot`, `user`)
 * as the bearer tokens they are.
 */
const standardisingTokenResponses: oidc.CustomFetch = async (url, options) => {
  const response = await fetch(url, options as RequestInit);
  if (!response.headers.get('content-type')?.includes('json')) return response;
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok && typeof body.error !== 'string' && typeof body.status === 'string') {
    const error = HUBSPOT_ERRORS[body.status] ?? 'invalid_request';
    return asJsonResponse(response.status, { error, error_description: body.message ?? body.status }, response);
  }
  if (!response.ok) return asJsonResponse(response.status, body, response);
  if (body.ok === false || (typeof body.error === 'string' && body.access_token === undefined)) {
    return asJsonResponse(
      400,
      { error: body.error ?? 'invalid_request', error_description: body.error_description ?? body.error },
      response,
    );
  }
  if (typeof body.access_token === 'string' && typeof body.token_type === 'string' && body.token_type.toLowerCase() !== 'dpop') {
    body.token_type = 'bearer';
  }
  return asJsonResponse(response.status, body, response);
};

export function asProviderError(error: unknown, provider: string): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof oidc.ResponseBodyError) {
    return new ProviderError('REFUSED', `${provider}: ${error.error_description ?? error.error}`, error.error, { cause: error });
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('OAUTH_')) {
    return new ProviderError('INVALID_RESPONSE', `${provider} answered with something other than an OAuth 2.0 response`, undefined, {
      cause: error,
    });
  }
  return new ProviderError('UNREACHABLE', `${provider} could not be reached`, undefined, { cause: error });
}

/**
 * One provider's OAuth 2.0 authorization-code flow through openid-client: the authorization URL (with PKCE S256 where
 * the provider supports it), the code exchanged, tokens refreshed and revoked. What the provider says of the account
 * comes from its token answer, or for HubSpot from its access-token information endpoint.
 */
export class OAuthProvider {
  private readonly configuration: oidc.Configuration;
  private readonly oauth: OAuthDefinition;
  private readonly displayName: string;

  constructor(
    private readonly settings: ProviderSettings,
    credentials: { clientId: string; clientSecret: string },
    private readonly redirectUri: string,
    private readonly timeoutSeconds: number,
    private readonly now: () => number,
  ) {
    this.oauth = settings.definition.oauth!;
    this.displayName = settings.definition.displayName;
    const endpoint = (url: string) => endpointOn(settings, url).href;
    const { clientSecret } = credentials;
    this.configuration = new oidc.Configuration(
      {
        issuer: settings.baseUrl.origin,
        authorization_endpoint: endpoint(this.oauth.authorizationEndpoint),
        token_endpoint: endpoint(this.oauth.tokenEndpoint),
        ...(this.oauth.revocation?.style === 'rfc7009' ? { revocation_endpoint: endpoint(this.oauth.revocation.endpoint) } : {}),
      },
      credentials.clientId,
      undefined,
      this.oauth.clientAuthentication === 'client_secret_basic'
        ? oidc.ClientSecretBasic(clientSecret)
        : oidc.ClientSecretPost(clientSecret),
    );
    this.configuration.timeout = timeoutSeconds;
    if (this.oauth.nonStandardTokenResponses) this.configuration[oidc.customFetch] = standardisingTokenResponses;
    // HTTPS only, except on this machine: a provider reached over plain HTTP elsewhere could be anyone.
    if (settings.baseUrl.protocol === 'http:' && LOOPBACK_HOSTS.has(settings.baseUrl.hostname)) {
      oidc.allowInsecureRequests(this.configuration);
    }
  }

  get supportsPkce(): boolean {
    return this.oauth.pkce;
  }

  async authorizationUrl(state: string, codeVerifier: string | null): Promise<URL> {
    const parameters: Record<string, string> = {
      redirect_uri: this.redirectUri,
      state,
      ...this.oauth.authorizationParameters,
    };
    if (this.oauth.scopes.length > 0) parameters.scope = this.oauth.scopes.join(this.oauth.scopeSeparator);
    if (codeVerifier !== null) {
      parameters.code_challenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
      parameters.code_challenge_method = 'S256';
    }
    return oidc.buildAuthorizationUrl(this.configuration, parameters);
  }

  /** Redeems the code the provider sent to the redirect URI with `state`; throws {@link ProviderError}. */
  async exchange(code: string, state: string, codeVerifier: string | null): Promise<Grant> {
    const callback = new URL(this.redirectUri);
    callback.searchParams.set('code', code);
    callback.searchParams.set('state', state);
    try {
      const response = await oidc.authorizationCodeGrant(this.configuration, callback, {
        expectedState: state,
        ...(codeVerifier === null ? {} : { pkceCodeVerifier: codeVerifier }),
      });
      const grant = this.grantOf(response, null);
      if (this.settings.definition.name === 'HUBSPOT') grant.account = await this.hubSpotAccount(grant.accessToken);
      return grant;
    } catch (error) {
      throw asProviderError(error, this.displayName);
    }
  }

  /** New tokens for a refresh token; the account stays what it was. Throws {@link ProviderError}. */
  async refresh(refreshToken: string): Promise<Grant> {
    try {
      return this.grantOf(await oidc.refreshTokenGrant(this.configuration, refreshToken), refreshToken);
    } catch (error) {
      throw asProviderError(error, this.displayName);
    }
  }

  /** Takes the grant back at the provider; false when the provider offers no revocation. Throws {@link ProviderError}. */
  async revoke(tokens: StoredTokens): Promise<boolean> {
    const revocation = this.oauth.revocation;
    if (!revocation) return false;
    const endpoint = endpointOn(this.settings, revocation.endpoint);
    try {
      switch (revocation.style) {
        case 'rfc7009': {
          const [token, hint] = tokens.refreshToken ? [tokens.refreshToken, 'refresh_token'] : [tokens.accessToken, 'access_token'];
          await oidc.tokenRevocation(this.configuration, token, { token_type_hint: hint });
          return true;
        }
        case 'hubspot':
          if (!tokens.refreshToken) return false;
          await this.call(new URL(`${endpoint.pathname}/${encodeURIComponent(tokens.refreshToken)}`, endpoint), { method: 'DELETE' });
          return true;
        case 'slack': {
          const answer = (await (
            await this.call(endpoint, { method: 'POST', headers: { authorization: `Bearer ${tokens.accessToken}` } })
          ).json()) as { ok?: unknown; error?: unknown };
          if (answer.ok !== true) throw new ProviderError('REFUSED', `${this.displayName}: ${String(answer.error)}`, String(answer.error));
          return true;
        }
        case 'zoho': {
          endpoint.searchParams.set('token', tokens.refreshToken ?? tokens.accessToken);
          await this.call(endpoint, { method: 'POST' });
          return true;
        }
      }
    } catch (error) {
      throw asProviderError(error, this.displayName);
    }
  }

  private grantOf(response: oidc.TokenEndpointResponse, previousRefreshToken: string | null): Grant {
    const body = response as oidc.TokenEndpointResponse & Record<string, unknown>;
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : this.oauth.assumedTokenLifetimeSeconds;
    const team = body.team as { id?: unknown; name?: unknown } | undefined;
    const apiBaseUrl =
      typeof body.instance_url === 'string' ? body.instance_url : typeof body.api_domain === 'string' ? body.api_domain : null;
    // Salesforce's `id` is its identity URL, …/id/<organisation>/<user>.
    const organisation = typeof body.id === 'string' ? (body.id.split('/').at(-2) ?? null) : null;
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token ?? previousRefreshToken,
      expiresAt: lifetime === undefined ? null : new Date(this.now() + lifetime * 1000),
      scopes: splitScopes(body.scope),
      account: {
        id: typeof team?.id === 'string' ? team.id : (organisation ?? hostOf(apiBaseUrl)),
        label: typeof team?.name === 'string' ? team.name : hostOf(apiBaseUrl),
        apiBaseUrl,
      },
    };
  }

  /** HubSpot's token answer says nothing of the portal: its access-token information does. */
  private async hubSpotAccount(accessToken: string): Promise<Grant['account']> {
    const url = endpointOn(this.settings, `https://api.hubapi.com/oauth/v1/access-tokens/${encodeURIComponent(accessToken)}`);
    const info = (await (await this.call(url, { method: 'GET' })).json()) as { hub_id?: unknown; hub_domain?: unknown };
    return {
      id: typeof info.hub_id === 'number' || typeof info.hub_id === 'string' ? String(info.hub_id) : null,
      label: typeof info.hub_domain === 'string' ? info.hub_domain : null,
      apiBaseUrl: null,
    };
  }

  private async call(url: URL, init: RequestInit): Promise<Response> {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutSeconds * 1000) });
    if (!response.ok) {
      const detail = await response.text().catch(() => '');
      throw new ProviderError(
        'REFUSED',
        `${this.displayName} answered HTTP ${response.status}${detail ? `: ${detail.slice(0, 200)}` : ''}`,
      );
    }
    return response;
  }
}
