import { PeriodicTask, type SubgraphRuntime } from '@nexusflow/kit';
import type { BillingServiceConfig } from './config.ts';
import { Downstream } from './domain/downstream.ts';
import { Payments } from './domain/payments.ts';
import { sendUnsentRefunds } from './domain/refund-sender.ts';
import { createStripeClient } from './domain/stripe-client.ts';
import { StripeEvents } from './webhooks/stripe-events.ts';

export function createServices(runtime: SubgraphRuntime, config: BillingServiceConfig) {
  const stripe = createStripeClient(config.stripe, runtime.logger);
  const downstream = new Downstream({ invoiceGen: config.invoiceGenUrl, ledgerMgr: config.ledgerMgrUrl }, config.subgraph.internalSecret);
  const stripeEvents = new StripeEvents({
    database: runtime.database,
    stripe,
    downstream,
    webhookSecret: config.webhookSecret,
    maxBodyBytes: config.webhookMaxBodyBytes,
    leaseMs: config.eventLeaseMs,
    retry: config.eventRetry,
    logger: runtime.logger,
    clock: runtime.clock,
  });
  return {
    payments: new Payments(stripe, downstream, runtime.logger),
    stripeEvents,
    /** Sends the refunds recorded while Stripe could not be reached, on the same interval as pending events. */
    unsentRefunds: new PeriodicTask(
      () =>
        sendUnsentRefunds({
          database: runtime.database,
          stripe,
          logger: runtime.logger,
          now: new Date(runtime.clock()),
          minAgeMs: config.unsentRefundAgeMs,
        }),
      { logger: runtime.logger, failureMessage: 'sending unsent refunds to Stripe failed; retried on the next pass', immediately: true },
    ),
    /** Applies what was recorded and not applied yet: at start (a restart resumes), then every retry interval. */
    pendingEvents: new PeriodicTask(() => stripeEvents.processPending(), {
      logger: runtime.logger,
      failureMessage: 'applying pending Stripe events failed; retried on the next pass',
      immediately: true,
    }),
  };
}
