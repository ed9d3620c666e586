import { loadSubgraphConfig, secretOrDevelopmentDefault, sharedSecretSchema, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const billingServiceEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'billing-service')),
  /** Stripe's secret API key (sk_live_… or sk_test_…); without it, payments and refunds are unavailable. */
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(live|test)_\w+$/, 'must be a Stripe secret or restricted key')
    .optional(),
  /** The signing secret of the webhook endpoint in Stripe's dashboard (whsec_…). */
  STRIPE_WEBHOOK_SECRET: sharedSecretSchema,
  /** Where the Stripe API is: only a local stand-in for tests needs it (default https://api.stripe.com). */
  STRIPE_API_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The largest webhook delivery accepted; Stripe's events are a few kilobytes. */
  STRIPE_WEBHOOK_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(5 * 1024 * 1024)
    .default(512 * 1024),
  /** How often recorded Stripe events not fully applied yet (a dependency was down, the service stopped) are retried. */
  STRIPE_EVENT_RETRY_INTERVAL_MS: z.coerce.number().int().min(0).default(30_000),
  /** How long a process may apply an event before another may take it over, as when the first one died. */
  STRIPE_EVENT_LEASE_MS: z.coerce.number().int().min(1000).default(120_000),
  /** The wait before retrying an event whose application failed, doubled after each failure up to the maximum. */
  STRIPE_EVENT_BACKOFF_INITIAL_MS: z.coerce.number().int().min(0).default(30_000),
  /** The longest wait between two attempts at an event. */
  STRIPE_EVENT_BACKOFF_MAX_MS: z.coerce.number().int().min(0).default(3_600_000),
  /**
   * How old a refund Stripe could not be reached for must be before the retry pass sends it again: longer than one send
   * with the SDK's retries takes (three tries of 20 s), so that a send still on its way is not repeated.
   */
  STRIPE_UNSENT_REFUND_AGE_MS: z.coerce.number().int().min(0).default(120_000),
  /** After this many failed attempts an event is dead: no longer retried, and logged at error. */
  STRIPE_EVENT_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(12),
});

export interface StripeSettings {
  secretKey: string;
  /** Set only to reach a stand-in of the API; the SDK's own default otherwise. */
  apiBaseUrl: URL | undefined;
}

export function loadBillingServiceConfig(env?: Environment) {
  return loadSubgraphConfig(
    'billing-service',
    billingServiceEnvSchema,
    env,
    (parsed) => ({
      stripe: parsed.STRIPE_SECRET_KEY
        ? ({
            secretKey: parsed.STRIPE_SECRET_KEY,
            apiBaseUrl: parsed.STRIPE_API_BASE_URL ? new URL(parsed.STRIPE_API_BASE_URL) : undefined,
          } satisfies StripeSettings)
        : undefined,
      webhookSecret: secretOrDevelopmentDefault(parsed.STRIPE_WEBHOOK_SECRET),
      webhookMaxBodyBytes: parsed.STRIPE_WEBHOOK_MAX_BODY_BYTES,
      eventRetryIntervalMs: parsed.STRIPE_EVENT_RETRY_INTERVAL_MS,
      eventLeaseMs: parsed.STRIPE_EVENT_LEASE_MS,
      unsentRefundAgeMs: parsed.STRIPE_UNSENT_REFUND_AGE_MS,
      eventRetry: {
        maxAttempts: parsed.STRIPE_EVENT_MAX_ATTEMPTS,
        backoff: { initialMs: parsed.STRIPE_EVENT_BACKOFF_INITIAL_MS, maxMs: parsed.STRIPE_EVENT_BACKOFF_MAX_MS },
      },
      /** invoice-gen: the invoices paid here are read and marked paid there. */
      invoiceGenUrl: parsed.INVOICE_GEN_URL,
      /** ledger-mgr: every settled payment, fee and refund is posted there. */
      ledgerMgrUrl: parsed.LEDGER_MGR_URL,
    }),
    { requiredInProduction: ['STRIPE_WEBHOOK_SECRET'] },
  );
}

export type BillingServiceConfig = ReturnType<typeof loadBillingServiceConfig>;
