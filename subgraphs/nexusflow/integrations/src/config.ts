import { ConfigError, loadSubgraphConfig, secretOrDevelopmentDefault, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';
import { parseKeyRing } from './domain/key-ring.ts';
import {
  baseUrlVariable,
  credentialVariables,
  PROVIDER_NAMES,
  PROVIDERS,
  type ProviderName,
  type ProviderSettings,
} from './domain/providers.ts';

const providerVariables = Object.fromEntries(
  Object.values(PROVIDERS).flatMap((definition) => [
    [baseUrlVariable(definition), z.url({ protocol: /^https?$/ }).optional()],
    ...(definition.oauth ? credentialVariables(definition).map((variable) => [variable, z.string().optional()] as const) : []),
  ]),
) as Record<string, z.ZodOptional<z.ZodString>>;

const integrationsEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'integrations')),
  /**
   * The keys providers' tokens are encrypted under at rest, newest first: `<id>:<secret>` or a bare secret of at least
   * 32 characters each, comma-separated. New tokens are sealed with the first; the others still open older ones.
   */
  INTEGRATIONS_ENCRYPTION_KEYS: z.string().optional(),
  /**
   * Where every provider sends the admin back after consent: the app's page that passes `code` and `state` on to
   * completeIntegrationConnection. Registered as the redirect URI of each provider's app.
   */
  INTEGRATIONS_REDIRECT_URI: z
    .url({ protocol: /^https?$/ })
    // The token request's redirect_uri is the callback URL without its query (openid-client), so a query would be lost.
    .refine((uri) => !uri.includes('?') && !uri.includes('#'), 'must have no query and no fragment')
    .default('http://localhost:8000/integrations/callback'),
  /** How long a started connection may take to complete. */
  INTEGRATIONS_CONNECT_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(600),
  /** An access token with less than this left is refreshed before it is used. */
  INTEGRATIONS_REFRESH_MARGIN_SECONDS: z.coerce.number().int().min(0).max(3600).default(300),
  /** How long a provider has to answer one request. */
  INTEGRATIONS_PROVIDER_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(120).default(10),
  /** Records a CRM sync reads or writes per page (HubSpot: at most 100); each page commits with its cursor. */
  INTEGRATIONS_SYNC_PAGE_SIZE: z.coerce.number().int().min(1).max(100).default(100),
  /** Attempts of a sync run whose CRM fails (5xx, unreachable, rate limits outlasting the waits) before it fails. */
  INTEGRATIONS_SYNC_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** The pause before a failed sync run's second attempt; it doubles with each further one. */
  INTEGRATIONS_SYNC_RETRY_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  /** How many 429s in a row one CRM request waits out (as the CRM's headers say) before the attempt fails. */
  INTEGRATIONS_SYNC_MAX_RATE_LIMIT_WAITS: z.coerce.number().int().min(0).max(20).default(5),
  /** Sync runs one process works on at once. */
  INTEGRATIONS_SYNC_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * How long a worker holds a running sync's lease without renewing it (it renews with each page): a job delivered
   * again meanwhile waits, and a run whose worker died is taken over after it. Longer than a page can take.
   */
  INTEGRATIONS_SYNC_LEASE_SECONDS: z.coerce.number().int().min(1).max(3600).default(120),
  /**
   * Where providers reach this service's webhook routes from outside (`POST /webhooks/integrations/<integration id>`):
   * its public origin, e.g. https://hooks.example.com. HubSpot signs the full URL it calls, so it must be exact.
   */
  INTEGRATIONS_WEBHOOK_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The largest webhook delivery accepted; larger ones are refused with 413. */
  INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(256 * 1024),
  /** How far a signed delivery's timestamp (Slack, HubSpot) may be from now: older ones are refused as replays. */
  INTEGRATIONS_WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  /**
   * How long the delivery ids of webhook deliveries are kept to refuse repeats: far beyond the signed replay window
   * (INTEGRATIONS_WEBHOOK_TOLERANCE_SECONDS) and the providers' own redelivery (HubSpot and Graph retry for up to a day).
   */
  INTEGRATIONS_WEBHOOK_DELIVERY_RETENTION_DAYS: z.coerce.number().int().min(1).max(365).default(7),
  /** How long an integration's rotated-out webhook secret still verifies deliveries; 0: it stops at once. */
  INTEGRATIONS_WEBHOOK_SECRET_GRACE_HOURS: z.coerce.number().int().min(0).max(168).default(24),
  /**
   * How long the outcome of an action sent with an idempotency key (a workflow step's post, hook delivery or contact
   * write) is kept, so that a retry of it within this time is answered with the first outcome instead of acting again.
   */
  INTEGRATIONS_ACTION_RECEIPT_RETENTION_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  /** The Slack app's signing secret (Basic Information in the app's settings): Slack signs every request with it. */
  INTEGRATIONS_SLACK_SIGNING_SECRET: z.string().optional(),
  /**
   * The Pub/Sub topic Gmail publishes new-mail notifications to (`projects/<project>/topics/<topic>`; Gmail's service
   * account gmail-api-push@system.gserviceaccount.com must be allowed to publish to it). Unset: Gmail is not watched.
   */
  INTEGRATIONS_GMAIL_PUBSUB_TOPIC: z
    .string()
    .regex(/^projects\/[^/]+\/topics\/[^/]+$/, 'must be projects/<project>/topics/<topic>')
    .optional(),
  /** The service account the topic's push subscription authenticates as: the `email` its OIDC tokens must carry. */
  INTEGRATIONS_GMAIL_PUSH_SERVICE_ACCOUNT: z.email().optional(),
  /** The audience the push subscription puts in its OIDC tokens; unset, the push endpoint's own URL. */
  INTEGRATIONS_GMAIL_PUSH_AUDIENCE: z.string().min(1).optional(),
  /** Where Google publishes the keys its OIDC tokens are signed with. */
  INTEGRATIONS_GOOGLE_JWKS_URL: z.url({ protocol: /^https?$/ }).default('https://www.googleapis.com/oauth2/v3/certs'),
  /** How long each Outlook inbox subscription is made or renewed for; Graph allows messages at most 4230 minutes. */
  INTEGRATIONS_OUTLOOK_SUBSCRIPTION_MINUTES: z.coerce.number().int().min(45).max(4230).default(4200),
  /** How often the mailbox watches that are due (Gmail's daily, Outlook's at half their life) are renewed. */
  INTEGRATIONS_MAIL_WATCH_RENEWAL_INTERVAL_SECONDS: z.coerce.number().int().min(10).max(86_400).default(3600),
  ...providerVariables,
});

function providerSettings(variable: (name: string) => string | undefined): Record<ProviderName, ProviderSettings> {
  return Object.fromEntries(
    PROVIDER_NAMES.map((name) => {
      const definition = PROVIDERS[name];
      const [clientIdVariable, clientSecretVariable] = credentialVariables(definition);
      const clientId = variable(clientIdVariable);
      const clientSecret = variable(clientSecretVariable);
      const settings: ProviderSettings = {
        definition,
        baseUrl: new URL(variable(baseUrlVariable(definition)) ?? definition.defaultBaseUrl),
        credentials: definition.oauth && clientId && clientSecret ? { clientId, clientSecret } : undefined,
      };
      return [name, settings];
    }),
  ) as Record<ProviderName, ProviderSettings>;
}

/** A provider is on when its client id and secret are both set; Zapier and Make need none. */
export function loadIntegrationsConfig(env?: Environment) {
  return loadSubgraphConfig(
    'integrations',
    integrationsEnvSchema,
    env,
    (parsed) => {
      const { keys, problems } = parseKeyRing(secretOrDevelopmentDefault(parsed.INTEGRATIONS_ENCRYPTION_KEYS));
      if (problems.length > 0) throw new ConfigError(problems.map((problem) => `INTEGRATIONS_ENCRYPTION_KEYS: ${problem}`));
      return {
        encryptionKeys: keys,
        redirectUri: parsed.INTEGRATIONS_REDIRECT_URI,
        /** The billing subgraph, asked for the integrations a tenant's plan allows before a new connection. */
        billingUrl: parsed.BILLING_URL,
        connectTtlSeconds: parsed.INTEGRATIONS_CONNECT_TTL_SECONDS,
        refreshMarginSeconds: parsed.INTEGRATIONS_REFRESH_MARGIN_SECONDS,
        providerTimeoutSeconds: parsed.INTEGRATIONS_PROVIDER_TIMEOUT_SECONDS,
        sync: {
          pageSize: parsed.INTEGRATIONS_SYNC_PAGE_SIZE,
          maxAttempts: parsed.INTEGRATIONS_SYNC_MAX_ATTEMPTS,
          retryDelayMs: parsed.INTEGRATIONS_SYNC_RETRY_DELAY_MS,
          maxRateLimitWaits: parsed.INTEGRATIONS_SYNC_MAX_RATE_LIMIT_WAITS,
          concurrency: parsed.INTEGRATIONS_SYNC_CONCURRENCY,
          leaseMs: parsed.INTEGRATIONS_SYNC_LEASE_SECONDS * 1000,
        },
        webhooks: {
          /** Unset in development: URLs are then shown on localhost, and HubSpot's signed URL is read from the Host header. */
          publicBaseUrl: parsed.INTEGRATIONS_WEBHOOK_BASE_URL,
          localBaseUrl: `http://localhost:${parsed.PORT}`,
          maxBodyBytes: parsed.INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES,
          toleranceSeconds: parsed.INTEGRATIONS_WEBHOOK_TOLERANCE_SECONDS,
          slackSigningSecret: parsed.INTEGRATIONS_SLACK_SIGNING_SECRET,
          deliveryRetentionSeconds: parsed.INTEGRATIONS_WEBHOOK_DELIVERY_RETENTION_DAYS * 86_400,
          secretGraceSeconds: parsed.INTEGRATIONS_WEBHOOK_SECRET_GRACE_HOURS * 3600,
        },
        actionReceiptRetentionSeconds: parsed.INTEGRATIONS_ACTION_RECEIPT_RETENTION_DAYS * 86_400,
        mailWatches: {
          gmailTopic: parsed.INTEGRATIONS_GMAIL_PUBSUB_TOPIC,
          gmailPushServiceAccount: parsed.INTEGRATIONS_GMAIL_PUSH_SERVICE_ACCOUNT,
          gmailPushAudience: parsed.INTEGRATIONS_GMAIL_PUSH_AUDIENCE,
          googleJwksUrl: parsed.INTEGRATIONS_GOOGLE_JWKS_URL,
          outlookSubscriptionMinutes: parsed.INTEGRATIONS_OUTLOOK_SUBSCRIPTION_MINUTES,
          renewalIntervalSeconds: parsed.INTEGRATIONS_MAIL_WATCH_RENEWAL_INTERVAL_SECONDS,
        },
        providers: providerSettings((name) => (parsed as Record<string, unknown>)[name] as string | undefined),
      };
    },
    { requiredInProduction: ['INTEGRATIONS_ENCRYPTION_KEYS'] },
  );
}

export type IntegrationsConfig = ReturnType<typeof loadIntegrationsConfig>;
