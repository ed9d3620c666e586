import { clientError, ErrorCode, type Logger } from '@nexusflow/kit';
import Stripe from 'stripe';
import type { StripeSettings } from '../config.ts';

/** The official SDK, pointed at Stripe, or at a stand-in of its API when the deployment names one (tests). */
export function createStripeClient(settings: StripeSettings | undefined, logger: Logger): Stripe | undefined {
  if (!settings) {
    // The operator's hint; clients are told only that payments are not set up, not which setting would do it.
    logger.warn('Payments are off: STRIPE_SECRET_KEY is not set, so operations that charge or refund answer SERVICE_UNAVAILABLE');
    return undefined;
  }
  const base = settings.apiBaseUrl;
  const protocol = base?.protocol === 'http:' ? 'http' : 'https';
  return new Stripe(settings.secretKey, {
    // Every call carries an idempotency key, so the SDK's retries never charge or refund twice.
    maxNetworkRetries: 2,
    timeout: 20_000,
    ...(base ? { host: base.hostname, port: Number(base.port || (protocol === 'http' ? 80 : 443)), protocol } : {}),
  });
}

/** The client for operations that charge or refund; without a key those are off, and say so. */
export function requireStripe(stripe: Stripe | undefined): Stripe {
  if (!stripe) throw clientError(ErrorCode.ServiceUnavailable, 'Payments are not set up on this deployment');
  return stripe;
}

/** Stripe unreachable, failing or rate-limiting us, after the SDK's own retries: what a later attempt may get past. */
export function isStripeOutage(error: unknown): boolean {
  return (
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeAPIError ||
    error instanceof Stripe.errors.StripeRateLimitError
  );
}

/** Stripe failing or unreachable is a moment's outage to the caller; anything else Stripe refuses is ours to log. */
export function stripeFailure(error: unknown): Error {
  if (isStripeOutage(error)) {
    return clientError(ErrorCode.ServiceUnavailable, 'Stripe cannot be reached right now; try again shortly');
  }
  return error instanceof Error ? error : new Error(String(error));
}

export { Stripe };
