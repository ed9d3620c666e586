import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { systemFork, type Database, type Logger, type RouteHandler } from '@nexusflow/kit';
import { OAuthClient } from '../entities/oauth-client.entity.ts';
import type { ClientSecretVault } from './client-secret-vault.ts';
import { providerAdapter } from './provider-adapter.ts';
import type { SealedSecrets } from './sealed-secrets.ts';
import { loadSigningKeys } from './signing-keys.ts';

/** Everything the provider serves lives under this prefix, but its discovery document, whose place the issuer fixes. */
export const OAUTH_PREFIX = '/oauth/';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** Where the provider sends the user agent to authenticate the user and record their consent. */
export const INTERACTION_PREFIX = `${OAUTH_PREFIX}interaction/`;

export interface AuthorizationServerSettings {
  issuer: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
}

/** An authorization code is exchanged at once; an interaction waits for a person. */
const AUTHORIZATION_CODE_TTL_SECONDS = 60;
const INTERACTION_TTL_SECONDS = 600;
const SESSION_TTL_SECONDS = 86_400;
const ID_TOKEN_TTL_SECONDS = 3600;

/**
 * The OAuth 2.0 / OpenID Connect authorization server for third-party apps: panva's oidc-provider (certified OpenID
 * provider), configured for the authorization code grant with PKCE (S256, required of every client), client
 * credentials, rotating refresh tokens, introspection (RFC 7662), revocation (RFC 7009), discovery and a JWKS of its
 * own. It is built once its signing keys are loaded from the database, on first use.
 */
export class AuthorizationServer {
  private built: Promise<Provider> | undefined;

  constructor(
    private readonly database: Database,
    private readonly secrets: SealedSecrets,
    private readonly vault: ClientSecretVault,
    private readonly settings: AuthorizationServerSettings,
    private readonly logger: Logger,
    private readonly now: () => Date,
    private readonly isActiveUser: (userId: string) => Promise<boolean>,
  ) {}

  get issuer(): string {
    return this.settings.issuer;
  }

  provider(): Promise<Provider> {
    this.built ??= this.build().catch((error: unknown) => {
      this.built = undefined;
      throw error;
    });
    return this.built;
  }

  private async build(): Promise<Provider> {
    const keys = await loadSigningKeys(systemFork(this.database), this.secrets);
    const { accessTokenTtlSeconds, refreshTokenTtlSeconds } = this.settings;
    const configuration: Configuration = {
      adapter: providerAdapter(this.database, this.vault, this.now),
      jwks: { keys },
      cookies: { keys: [this.secrets.cookieKey] },
      // The sub of ID tokens and userinfo is the COS user id; nothing else about the user leaves the platform. A user
      // deactivated or deleted since the grant has no account, so their refresh tokens and sessions issue nothing more.
      findAccount: async (_ctx, sub) => ((await this.isActiveUser(sub)) ? { accountId: sub, claims: () => ({ sub }) } : undefined),
      scopes: ['openid', 'offline_access'],
      // What clients are registered with (provider-adapter.ts), and so what discovery may advertise: the library's
      // defaults would list client_secret_post, client_secret_jwt, private_key_jwt and the implicit grant's id_token.
      clientAuthMethods: ['client_secret_basic', 'none'],
      responseTypes: ['code', 'none'],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        // A resource server of an organisation (its confidential client) learns about its organisation's tokens only.
        introspection: {
          enabled: true,
          allowedPolicy: async (_ctx, client, token) =>
            token.clientId === client.clientId ||
            (client.clientAuthMethod !== 'none' && (await this.sameTenant(client.clientId, token.clientId))),
        },
        // A token is revoked by the client it was issued to; any other's request changes nothing (RFC 7009 answers 200).
        revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
        userinfo: { enabled: true },
        rpInitiatedLogout: { enabled: false },
      },
      // Every code flow proves its code with PKCE, confidential clients' too: it also stops code injection (RFC 9700 2.1.1).
      pkce: { required: () => true },
      // Every use of a refresh token returns a new one; the old one is refused from then on, and its reuse revokes the grant.
      rotateRefreshToken: () => true,
      // Only for offline access the user consented to (OpenID Connect Core 11): a sign-in alone grants none.
      issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
      ttl: {
        AccessToken: accessTokenTtlSeconds,
        ClientCredentials: accessTokenTtlSeconds,
        RefreshToken: refreshTokenTtlSeconds,
        Grant: refreshTokenTtlSeconds,
        AuthorizationCode: AUTHORIZATION_CODE_TTL_SECONDS,
        Interaction: INTERACTION_TTL_SECONDS,
        Session: SESSION_TTL_SECONDS,
        IdToken: ID_TOKEN_TTL_SECONDS,
      },
      interactions: { policy: signedInEveryTime(), url: (_ctx, interaction) => `${INTERACTION_PREFIX}${interaction.uid}` },
      routes: {
        authorization: `${OAUTH_PREFIX}authorize`,
        token: `${OAUTH_PREFIX}token`,
        introspection: `${OAUTH_PREFIX}introspect`,
        revocation: `${OAUTH_PREFIX}revoke`,
        userinfo: `${OAUTH_PREFIX}userinfo`,
        jwks: `${OAUTH_PREFIX}jwks`,
        pushed_authorization_request: `${OAUTH_PREFIX}par`,
      },
      // Errors a person's browser meets answer in JSON like the rest of the platform, not the library's HTML page.
      renderError: (ctx, out) => {
        ctx.type = 'json';
        ctx.body = out;
      },
    };
    const provider = new Provider(this.settings.issuer, configuration);
    // Behind a TLS-terminating ingress: the scheme and host of the issuer come from X-Forwarded-*.
    provider.proxy = true;
    provider.on('server_error', (_ctx: KoaContextWithOIDC, error: Error) =>
      this.logger.error({ err: error }, 'OAuth provider failed a request'),
    );
    return provider;
  }

  private async sameTenant(clientId: string, otherClientId: string | undefined): Promise<boolean> {
    if (!otherClientId) return false;
    const clients = await systemFork(this.database).find(OAuthClient, { id: { $in: [clientId, otherClientId] } });
    return clients.length === 2 && clients[0]!.tenantId === clients[1]!.tenantId;
  }

  /** Hands the provider's paths to it: its discovery document and everything under {@link OAUTH_PREFIX}. */
  route(): RouteHandler {
    let callback: ReturnType<Provider['callback']> | undefined;
    return async (req, res, url) => {
      if (url.pathname !== DISCOVERY_PATH && !url.pathname.startsWith(OAUTH_PREFIX)) return false;
      callback ??= (await this.provider()).callback();
      await callback(req, res);
      return true;
    };
  }
}

/**
 * The library's prompts, and one more check: every authorization is signed in with a COS access token at the
 * interaction, never by the provider's own session cookie. That session knows nothing of COS, so it outlived a COS
 * sign-out, a password change and a revocation of every session, and handed the next user of a shared browser codes
 * for the one before. Consent is still remembered (the grant): the interaction asks nothing new of a returning user.
 */
function signedInEveryTime() {
  const policy = interactionPolicy.base();
  policy
    .get('login')!
    .checks.add(
      new interactionPolicy.Check(
        'cos_sign_in',
        'Every authorization is signed in with a Nexus COS access token',
        'login_required',
        (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT),
      ),
    );
  return policy;
}
