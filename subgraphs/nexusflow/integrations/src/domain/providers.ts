/** The providers a tenant can connect, as the API names them. */
export const PROVIDER_NAMES = [
  'SALESFORCE',
  'HUBSPOT',
  'PIPEDRIVE',
  'ZOHO_CRM',
  'SLACK',
  'MICROSOFT_TEAMS',
  'GMAIL',
  'OUTLOOK',
  'ZAPIER',
  'MAKE',
] as const;

export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** CRMs sync both ways, messaging is posted to, mail is read, webhook providers receive and send hook deliveries. */
export type ProviderKind = 'CRM' | 'MESSAGING' | 'MAIL' | 'WEBHOOK';

/**
 * How the provider takes back a token: RFC 7009 (`token` form post to the revocation endpoint), or its own way:
 * HubSpot deletes the refresh token (`DELETE /oauth/v1/refresh-tokens/:token`), Slack's `auth.revoke` takes the
 * access token, Zoho takes the refresh token as a query parameter.
 */
export type RevocationStyle = 'rfc7009' | 'hubspot' | 'slack' | 'zoho';

/**
 * Where a provider's OAuth 2.0 authorization server is and what it is asked for. Endpoints are absolute URLs on the
 * provider's hosts; a configured base URL replaces their origin (scheme, host, port) and keeps their paths.
 */
export interface OAuthDefinition {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocation?: { endpoint: string; style: RevocationStyle };
  /** Sent as the `scope` parameter, joined with `scopeSeparator`; empty for providers whose app settings fix the scopes. */
  scopes: readonly string[];
  scopeSeparator: ' ' | ',';
  /** RFC 7636 with S256: sent only to providers that document it. */
  pkce: boolean;
  /** How the client authenticates at the token endpoint. */
  clientAuthentication: 'client_secret_post' | 'client_secret_basic';
  /** Further parameters of the authorization request, e.g. Google's `access_type=offline` for a refresh token. */
  authorizationParameters?: Readonly<Record<string, string>>;
  /**
   * The provider answers token requests outside RFC 6749: errors with HTTP 200 (`{"ok":false,"error":…}` at Slack,
   * `{"error":…}` at Zoho) or as `{"status","message"}` (HubSpot), or a `token_type` other than `bearer` (Slack's
   * `bot`). Its answers are read as the standard ones they stand for before the OAuth client checks them.
   */
  nonStandardTokenResponses?: boolean;
  /** When the token response has no `expires_in` (Salesforce), how long an access token is taken to last. */
  assumedTokenLifetimeSeconds?: number;
}

export interface ProviderDefinition {
  name: ProviderName;
  /** As people write it. */
  displayName: string;
  kind: ProviderKind;
  /** The prefix of its variables: `INTEGRATIONS_<prefix>_CLIENT_ID`, `_CLIENT_SECRET`, `_BASE_URL`. */
  variablePrefix: string;
  /** Where it is; for REST hook providers, the host (or parent domain) every hook target URL must be on. */
  defaultBaseUrl: string;
  /** Absent for REST hook providers (Zapier, Make), which connect by a subscription to a target URL. */
  oauth?: OAuthDefinition;
}

const CRM_SCOPES = {
  hubspot: [
    'oauth',
    'crm.objects.contacts.read',
    'crm.objects.contacts.write',
    'crm.objects.companies.read',
    'crm.objects.companies.write',
    'crm.objects.deals.read',
    'crm.objects.deals.write',
  ],
  zoho: ['ZohoCRM.modules.contacts.ALL', 'ZohoCRM.modules.accounts.ALL', 'ZohoCRM.modules.deals.ALL', 'ZohoCRM.settings.fields.READ'],
};

const microsoft = (scopes: string[]): OAuthDefinition => ({
  authorizationEndpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
  tokenEndpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
  // The identity platform has no endpoint that revokes one grant's tokens; disconnecting forgets them.
  scopes: ['offline_access', ...scopes],
  scopeSeparator: ' ',
  pkce: true,
  clientAuthentication: 'client_secret_post',
});

/** The ten providers, with their real endpoints (see README, Integrations). */
export const PROVIDERS: Readonly<Record<ProviderName, ProviderDefinition>> = {
  SALESFORCE: {
    name: 'SALESFORCE',
    displayName: 'Salesforce',
    kind: 'CRM',
    variablePrefix: 'SALESFORCE',
    defaultBaseUrl: 'https://login.salesforce.com',
    oauth: {
      authorizationEndpoint: 'https://login.salesforce.com/services/oauth2/authorize',
      tokenEndpoint: 'https://login.salesforce.com/services/oauth2/token',
      revocation: { endpoint: 'https://login.salesforce.com/services/oauth2/revoke', style: 'rfc7009' },
      scopes: ['api', 'refresh_token'],
      scopeSeparator: ' ',
      pkce: true,
      clientAuthentication: 'client_secret_post',
      // Salesforce says nothing of expiry; two hours is its default session timeout.
      assumedTokenLifetimeSeconds: 2 * 60 * 60,
    },
  },
  HUBSPOT: {
    name: 'HUBSPOT',
    displayName: 'HubSpot',
    kind: 'CRM',
    variablePrefix: 'HUBSPOT',
    defaultBaseUrl: 'https://api.hubapi.com',
    oauth: {
      authorizationEndpoint: 'https://app.hubspot.com/oauth/authorize',
      tokenEndpoint: 'https://api.hubapi.com/oauth/v1/token',
      revocation: { endpoint: 'https://api.hubapi.com/oauth/v1/refresh-tokens', style: 'hubspot' },
      scopes: CRM_SCOPES.hubspot,
      scopeSeparator: ' ',
      pkce: false,
      clientAuthentication: 'client_secret_post',
      nonStandardTokenResponses: true,
    },
  },
  PIPEDRIVE: {
    name: 'PIPEDRIVE',
    displayName: 'Pipedrive',
    kind: 'CRM',
    variablePrefix: 'PIPEDRIVE',
    defaultBaseUrl: 'https://oauth.pipedrive.com',
    oauth: {
      authorizationEndpoint: 'https://oauth.pipedrive.com/oauth/authorize',
      tokenEndpoint: 'https://oauth.pipedrive.com/oauth/token',
      revocation: { endpoint: 'https://oauth.pipedrive.com/oauth/revoke', style: 'rfc7009' },
      // Pipedrive takes the scopes from the app's Marketplace settings (contacts:full, deals:full), not the request.
      scopes: [],
      scopeSeparator: ' ',
      pkce: false,
      clientAuthentication: 'client_secret_basic',
    },
  },
  ZOHO_CRM: {
    name: 'ZOHO_CRM',
    displayName: 'Zoho CRM',
    kind: 'CRM',
    variablePrefix: 'ZOHO_CRM',
    // Other data centres (accounts.zoho.eu, .in, .com.au, .jp) by INTEGRATIONS_ZOHO_CRM_BASE_URL.
    defaultBaseUrl: 'https://accounts.zoho.com',
    oauth: {
      authorizationEndpoint: 'https://accounts.zoho.com/oauth/v2/auth',
      tokenEndpoint: 'https://accounts.zoho.com/oauth/v2/token',
      revocation: { endpoint: 'https://accounts.zoho.com/oauth/v2/token/revoke', style: 'zoho' },
      scopes: CRM_SCOPES.zoho,
      scopeSeparator: ',',
      pkce: false,
      clientAuthentication: 'client_secret_post',
      authorizationParameters: { access_type: 'offline', prompt: 'consent' },
      nonStandardTokenResponses: true,
    },
  },
  SLACK: {
    name: 'SLACK',
    displayName: 'Slack',
    kind: 'MESSAGING',
    variablePrefix: 'SLACK',
    defaultBaseUrl: 'https://slack.com',
    oauth: {
      authorizationEndpoint: 'https://slack.com/oauth/v2/authorize',
      tokenEndpoint: 'https://slack.com/api/oauth.v2.access',
      revocation: { endpoint: 'https://slack.com/api/auth.revoke', style: 'slack' },
      scopes: ['chat:write', 'channels:read', 'groups:read'],
      scopeSeparator: ',',
      pkce: false,
      clientAuthentication: 'client_secret_post',
      nonStandardTokenResponses: true,
    },
  },
  MICROSOFT_TEAMS: {
    name: 'MICROSOFT_TEAMS',
    displayName: 'Microsoft Teams',
    kind: 'MESSAGING',
    variablePrefix: 'MICROSOFT_TEAMS',
    defaultBaseUrl: 'https://login.microsoftonline.com',
    oauth: microsoft(['User.Read', 'Team.ReadBasic.All', 'Channel.ReadBasic.All', 'ChannelMessage.Send']),
  },
  GMAIL: {
    name: 'GMAIL',
    displayName: 'Gmail',
    kind: 'MAIL',
    variablePrefix: 'GMAIL',
    defaultBaseUrl: 'https://accounts.google.com',
    oauth: {
      authorizationEndpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
      tokenEndpoint: 'https://oauth2.googleapis.com/token',
      revocation: { endpoint: 'https://oauth2.googleapis.com/revoke', style: 'rfc7009' },
      scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
      scopeSeparator: ' ',
      pkce: true,
      clientAuthentication: 'client_secret_post',
      // A refresh token only with offline access, and again on a second consent only when asked for it.
      authorizationParameters: { access_type: 'offline', prompt: 'consent' },
    },
  },
  OUTLOOK: {
    name: 'OUTLOOK',
    displayName: 'Outlook',
    kind: 'MAIL',
    variablePrefix: 'OUTLOOK',
    defaultBaseUrl: 'https://login.microsoftonline.com',
    oauth: microsoft(['User.Read', 'Mail.Read']),
  },
  ZAPIER: {
    name: 'ZAPIER',
    displayName: 'Zapier',
    kind: 'WEBHOOK',
    variablePrefix: 'ZAPIER',
    defaultBaseUrl: 'https://hooks.zapier.com',
  },
  MAKE: {
    name: 'MAKE',
    displayName: 'Make',
    kind: 'WEBHOOK',
    variablePrefix: 'MAKE',
    // Hook URLs are on a region's host: hook.eu1.make.com, hook.us1.make.com, …
    defaultBaseUrl: 'https://make.com',
  },
};

export const isProviderName = (value: string): value is ProviderName => (PROVIDER_NAMES as readonly string[]).includes(value);

/** The variables that switch an OAuth provider on. */
export const credentialVariables = (definition: ProviderDefinition): [string, string] => [
  `INTEGRATIONS_${definition.variablePrefix}_CLIENT_ID`,
  `INTEGRATIONS_${definition.variablePrefix}_CLIENT_SECRET`,
];

export const baseUrlVariable = (definition: ProviderDefinition) => `INTEGRATIONS_${definition.variablePrefix}_BASE_URL`;

/** What the deployment configured for one provider. */
export interface ProviderSettings {
  definition: ProviderDefinition;
  /** Its default, or the origin tests and proxies point it at. */
  baseUrl: URL;
  /** Both set, or the provider is not configured (REST hook providers need none). */
  credentials: { clientId: string; clientSecret: string } | undefined;
}

/** `endpoint` on the configured origin: the provider's own unless its base URL was overridden. */
export function endpointOn(settings: ProviderSettings, endpoint: string): URL {
  const url = new URL(endpoint);
  if (settings.baseUrl.origin === new URL(settings.definition.defaultBaseUrl).origin) return url;
  const basePath = settings.baseUrl.pathname.replace(/\/+$/, '');
  return new URL(`${basePath}${url.pathname}${url.search}`, settings.baseUrl.origin);
}

/**
 * A REST hook provider's hook URLs are on its host or a subdomain of it, over HTTPS; over HTTP only when its base URL
 * is HTTP itself (a local fake), on that port. No credentials in the URL.
 */
export function isHookTargetOf(settings: ProviderSettings, target: URL): boolean {
  const host = settings.baseUrl.hostname;
  const onHost = target.hostname === host || target.hostname.endsWith(`.${host}`);
  // https on its standard port, as the provider serves hooks; or exactly the configured origin's scheme and port (a
  // local fake in tests). Another port of the provider's host is not where it serves hooks.
  const sameProtocol =
    (target.protocol === 'https:' && target.port === '') ||
    (target.protocol === settings.baseUrl.protocol && target.port === settings.baseUrl.port);
  return onHost && sameProtocol && target.username === '' && target.password === '';
}
