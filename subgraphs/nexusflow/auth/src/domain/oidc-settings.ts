import { booleanFlagSchema } from '@nexusflow/kit';
import { z } from 'zod';

/** Where a provider may send people back: an absolute http(s) URL without query or fragment, compared exactly. */
const redirectUriSchema = z.url({ protocol: /^https?$/ }).refine((uri) => {
  const parsed = new URL(uri);
  // The token request's redirect_uri is the callback URL without its query (openid-client), so a query would be lost.
  return parsed.search === '' && parsed.hash === '' && !uri.includes('?') && !uri.includes('#');
}, 'must have no query and no fragment');

const redirectUrisSchema = z
  .string()
  .transform((list) =>
    list
      .split(',')
      .map((uri) => uri.trim())
      .filter((uri) => uri !== ''),
  )
  .pipe(z.array(redirectUriSchema));

/** The variables of OIDC sign-in, spread into the auth subgraph's environment schema. Blank is unset (parseConfig). */
export const oidcEnvShape = {
  /** Comma-separated: the only redirect URIs startOidcSignIn accepts, each registered with every provider used. */
  OIDC_REDIRECT_URIS: redirectUrisSchema.default([]),
  /** How long a started sign-in may take to complete. */
  OIDC_SIGN_IN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(600),
  OIDC_GOOGLE_CLIENT_ID: z.string().optional(),
  OIDC_GOOGLE_CLIENT_SECRET: z.string().optional(),
  /** The issuer whose `/.well-known/openid-configuration` is read: Google itself unless testing or proxying. */
  OIDC_GOOGLE_ISSUER: z.url().default('https://accounts.google.com'),
  OIDC_MICROSOFT_CLIENT_ID: z.string().optional(),
  OIDC_MICROSOFT_CLIENT_SECRET: z.string().optional(),
  /**
   * `common` accepts work, school and personal accounts; a tenant id (or `organizations`, `consumers`) narrows it. On
   * login.microsoftonline.com, openid-client checks each ID token's `iss` against the `{tenantid}` template filled
   * with the token's own `tid`.
   */
  OIDC_MICROSOFT_ISSUER: z.url().default('https://login.microsoftonline.com/common/v2.0'),
  /**
   * Microsoft's `email` claim is whatever the account's directory says, unverified unless the token says
   * `xms_edov: true`: only with this set is it trusted to find or create an account (see README, OIDC sign-in).
   */
  OIDC_MICROSOFT_TRUST_EMAIL: booleanFlagSchema.default(false),
  OIDC_GITHUB_CLIENT_ID: z.string().optional(),
  OIDC_GITHUB_CLIENT_SECRET: z.string().optional(),
  /** Where `/login/oauth/authorize` and `/login/oauth/access_token` are: GitHub's site, or a GitHub Enterprise server. */
  OIDC_GITHUB_URL: z.url().default('https://github.com'),
  /** Where `/user` and `/user/emails` are. */
  OIDC_GITHUB_API_URL: z.url().default('https://api.github.com'),
};

type OidcEnv = z.output<z.ZodObject<typeof oidcEnvShape>>;

export interface OpenIdProviderSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface GitHubSettings {
  baseUrl: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
}

export interface OidcSettings {
  redirectUris: string[];
  signInTtlSeconds: number;
  /** A provider is on when its client id and secret are both set. */
  google: OpenIdProviderSettings | undefined;
  microsoft: (OpenIdProviderSettings & { trustEmail: boolean }) | undefined;
  github: GitHubSettings | undefined;
}

const credentials = (clientId: string | undefined, clientSecret: string | undefined) =>
  clientId && clientSecret ? { clientId, clientSecret } : undefined;

export function oidcSettings(env: OidcEnv): OidcSettings {
  const google = credentials(env.OIDC_GOOGLE_CLIENT_ID, env.OIDC_GOOGLE_CLIENT_SECRET);
  const microsoft = credentials(env.OIDC_MICROSOFT_CLIENT_ID, env.OIDC_MICROSOFT_CLIENT_SECRET);
  const github = credentials(env.OIDC_GITHUB_CLIENT_ID, env.OIDC_GITHUB_CLIENT_SECRET);
  return {
    redirectUris: env.OIDC_REDIRECT_URIS,
    signInTtlSeconds: env.OIDC_SIGN_IN_TTL_SECONDS,
    google: google && { ...google, issuer: env.OIDC_GOOGLE_ISSUER },
    microsoft: microsoft && { ...microsoft, issuer: env.OIDC_MICROSOFT_ISSUER, trustEmail: env.OIDC_MICROSOFT_TRUST_EMAIL },
    github: github && { ...github, baseUrl: env.OIDC_GITHUB_URL, apiUrl: env.OIDC_GITHUB_API_URL },
  };
}
