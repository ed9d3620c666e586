import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

/** A Stripe price id as the dashboard shows it, e.g. `price_1PXa…`. */
const stripePriceId = z.string().regex(/^price_\w+$/, 'must be a Stripe price id (price_…)');

/** A Stripe meter's `event_name`, as set when the meter was made. */
const stripeMeterEventName = z.string().regex(/^[\w.:-]{1,100}$/, 'must be a Stripe meter event name');

const billingEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'billing')),
  /** Stripe's secret API key (sk_live_… or sk_test_…); without it, paid plans, payment methods and invoices are unavailable. */
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(live|test)_\w+$/, 'must be a Stripe secret or restricted key')
    .optional(),
  /** The signing secret of the webhook endpoint in Stripe's dashboard (whsec_…); without it, deliveries are refused. */
  STRIPE_WEBHOOK_SECRET: z.string().startsWith('whsec_', 'must be a webhook signing secret (whsec_…)').optional(),
  /** Where the Stripe API is: only a local stand-in for tests needs it (default https://api.stripe.com). */
  STRIPE_API_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The monthly prices of the paid plans in Stripe. */
  STRIPE_PRICE_STARTER: stripePriceId.optional(),
  STRIPE_PRICE_PRO: stripePriceId.optional(),
  STRIPE_PRICE_ENTERPRISE: stripePriceId.optional(),
  /** The event names of the Stripe meters paid plans' usage is reported to (metered prices); unset, a metric is not reported. */
  STRIPE_METER_EVENT_EXECUTIONS: stripeMeterEventName.optional(),
  STRIPE_METER_EVENT_AI_TOKENS: stripeMeterEventName.optional(),
  /** How often the metered usage of the month just closed is reported, and reports that failed are retried. */
  BILLING_USAGE_REPORT_INTERVAL_MINUTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(15),
  /** How long a tenant whose payment failed keeps its plan's limits before it is held to the free plan's. */
  BILLING_PAST_DUE_GRACE_DAYS: z.coerce.number().int().min(0).max(60).default(7),
  /** The largest webhook delivery accepted; Stripe's events are a few kilobytes. */
  BILLING_WEBHOOK_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(5 * 1024 * 1024)
    .default(512 * 1024),
});

export interface StripeSettings {
  secretKey: string;
  /** Set only to reach a stand-in of the API; the SDK's own default otherwise. */
  apiBaseUrl: URL | undefined;
}

export function loadBillingConfig(env?: Environment) {
  return loadSubgraphConfig('billing', billingEnvSchema, env, (parsed) => ({
    stripe: parsed.STRIPE_SECRET_KEY
      ? ({
          secretKey: parsed.STRIPE_SECRET_KEY,
          apiBaseUrl: parsed.STRIPE_API_BASE_URL ? new URL(parsed.STRIPE_API_BASE_URL) : undefined,
        } satisfies StripeSettings)
      : undefined,
    webhookSecret: parsed.STRIPE_WEBHOOK_SECRET,
    prices: {
      STARTER: parsed.STRIPE_PRICE_STARTER,
      PRO: parsed.STRIPE_PRICE_PRO,
      ENTERPRISE: parsed.STRIPE_PRICE_ENTERPRISE,
    },
    pastDueGraceMs: parsed.BILLING_PAST_DUE_GRACE_DAYS * 24 * 60 * 60 * 1000,
    meterEventNames: { EXECUTIONS: parsed.STRIPE_METER_EVENT_EXECUTIONS, AI_TOKENS: parsed.STRIPE_METER_EVENT_AI_TOKENS },
    usageReportIntervalMs: parsed.BILLING_USAGE_REPORT_INTERVAL_MINUTES * 60_000,
    webhookMaxBodyBytes: parsed.BILLING_WEBHOOK_MAX_BODY_BYTES,
  }));
}

export type BillingConfig = ReturnType<typeof loadBillingConfig>;
