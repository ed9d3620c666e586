import { createWorkQueue, OutboxRelay, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { BillingConfig } from './config.ts';
import { BillingService } from './domain/billing-service.ts';
import { PlanCatalogue } from './domain/plans.ts';
import { createStripeClient } from './domain/stripe-client.ts';
import { MeteredUsageReporter } from './domain/metered-usage.ts';
import { USAGE_BINDINGS, UsageCounters } from './domain/usage.ts';
import { STRIPE_EVENT_QUEUE, StripeWebhooks, type StripeEventMessage } from './webhooks/stripe-events.ts';

/** The plan catalogue, Stripe (when configured), the webhook deliveries' queue, the usage counters and the outbox. */
export function createBillingServices(runtime: SubgraphRuntime, config: BillingConfig) {
  // billing.subscription.changed and billing.payment.past_due, for the notifications service and limit caches.
  const relay = new OutboxRelay(runtime.database, runtime.eventBus, runtime.logger);
  const catalogue = new PlanCatalogue(runtime.database, config.prices);
  const stripe = createStripeClient(config.stripe, runtime.logger);
  const billing = new BillingService({
    catalogue,
    stripe,
    pastDueGraceMs: config.pastDueGraceMs,
    eventsRecorded: () => relay.notify(),
    now: runtime.clock,
  });
  const stripeEventQueue = createWorkQueue<StripeEventMessage>(
    runtime.config.amqpUrl,
    `${runtime.config.amqpNamespace}.${STRIPE_EVENT_QUEUE}`,
    runtime.logger,
  );
  const webhooks = new StripeWebhooks({
    database: runtime.database,
    queue: stripeEventQueue,
    billing,
    catalogue,
    stripe,
    webhookSecret: config.webhookSecret,
    maxBodyBytes: config.webhookMaxBodyBytes,
    pastDueGraceMs: config.pastDueGraceMs,
    eventsRecorded: () => relay.notify(),
    logger: runtime.logger,
    now: runtime.clock,
  });
  const meteredUsage = new MeteredUsageReporter({
    database: runtime.database,
    stripe,
    meterEventNames: config.meterEventNames,
    logger: runtime.logger,
    now: runtime.clock,
  });
  return { billing, catalogue, webhooks, stripeEventQueue, usage: new UsageCounters(runtime.database), meteredUsage, relay };
}

export type BillingServices = ReturnType<typeof createBillingServices>;

/**
 * The catalogue's seeding, the outbox relay, the consumer of Stripe's recorded events (with those not yet processed
 * queued again at start and whenever the broker is back), the durable consumer of the usage events, and the periodic
 * report of metered usage to Stripe.
 */
export async function startBillingWork(runtime: SubgraphRuntime, services: BillingServices, config: BillingConfig): Promise<Stoppable> {
  await services.catalogue.seed();
  services.relay.start();
  const stripeEvents = await services.stripeEventQueue.consume((message) => services.webhooks.process(message));
  const resend = () =>
    services.webhooks
      .resendPending()
      .catch((error: unknown) => runtime.logger.error({ err: error }, 'could not queue Stripe events again'));
  const stopResending = services.stripeEventQueue.onReconnected(() => void resend());
  await resend();
  const usageEvents = await runtime.eventBus.subscribe(
    { queue: `${runtime.config.amqpNamespace}.billing.usage-events`, bindings: USAGE_BINDINGS },
    async (event) => {
      try {
        await services.usage.count(event);
      } catch (error) {
        runtime.logger.error({ err: error, eventId: event.id }, 'could not count a usage event; it will be redelivered');
        throw error;
      }
    },
  );
  services.meteredUsage.start(config.usageReportIntervalMs);
  return {
    close: async () => {
      await services.meteredUsage.stop();
      await usageEvents.stop();
      stopResending();
      await stripeEvents.stop();
      await services.stripeEventQueue.close();
      await services.relay.stop();
    },
  };
}
