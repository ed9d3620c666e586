import { createWorkQueue, PeriodicTask, systemFork, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { NotificationsConfig } from './config.ts';
import type { NotificationServices } from './context.ts';
import { Inbox } from './domain/inbox.ts';
import { NotificationService, type DeliveryMessage } from './domain/notification-service.ts';
import { UserDirectory } from './domain/user-directory.ts';
import { createProviders } from './providers/index.ts';

const LOST_DELIVERY_SWEEP_INTERVAL_MS = 30_000;

export function createNotificationServices(runtime: SubgraphRuntime, config: NotificationsConfig): NotificationServices {
  const deliveries = createWorkQueue<DeliveryMessage>(
    runtime.config.amqpUrl,
    `${runtime.config.amqpNamespace}.notifications.deliveries`,
    runtime.logger,
  );
  const notifications = new NotificationService({
    queue: deliveries,
    pubsub: runtime.pubsub,
    providers: createProviders(config.providers),
    logger: runtime.logger,
    users: new UserDirectory({ authUrl: config.authUrl, internalSecret: config.subgraph.internalSecret, logger: runtime.logger }),
    maxAttempts: config.maxAttempts,
    initialBackoffMs: config.initialBackoffMs,
    now: () => new Date(runtime.clock()),
  });
  return { notifications, inbox: new Inbox(), live: runtime.pubsub, deliveries };
}

/** Delivery workers, and the durable consumers of workflow and billing events (deduplicated by event id). */
export async function startNotificationWork(
  runtime: SubgraphRuntime,
  { notifications, deliveries }: NotificationServices,
  config: NotificationsConfig,
): Promise<Stoppable> {
  const events = await runtime.eventBus.subscribe(
    { queue: `${runtime.config.amqpNamespace}.notifications.workflow-events`, bindings: ['workflow.execution.failed'] },
    async (event) => {
      try {
        await notifications.handleWorkflowFailed(systemFork(runtime.database), event);
      } catch (error) {
        runtime.logger.error({ err: error, eventId: event.id }, 'could not handle a workflow event; it will be redelivered');
        throw error;
      }
    },
  );
  const billingEvents = await runtime.eventBus.subscribe(
    { queue: `${runtime.config.amqpNamespace}.notifications.billing-events`, bindings: ['billing.payment.past_due'] },
    async (event) => {
      try {
        await notifications.handleBillingPastDue(systemFork(runtime.database), event);
      } catch (error) {
        runtime.logger.error({ err: error, eventId: event.id }, 'could not handle a billing event; it will be redelivered');
        throw error;
      }
    },
  );
  // Deliveries recorded while the broker was away, or whose message was lost, are queued again: every due one when it is
  // back (and at start), the long-overdue ones now and then.
  const resendDue = () =>
    notifications
      .resendDue(systemFork(runtime.database))
      .catch((error: unknown) => runtime.logger.error({ err: error }, 'could not queue pending deliveries again'));
  const stopResending = deliveries.onReconnected(() => void resendDue());
  await resendDue();
  const lostDeliveries = new PeriodicTask(() => notifications.resendLost(systemFork(runtime.database)), {
    logger: runtime.logger,
    failureMessage: 'could not queue overdue deliveries again',
  }).start(LOST_DELIVERY_SWEEP_INTERVAL_MS);
  const consumer = config.runWorker
    ? await deliveries.consume(async (message) => {
        try {
          await notifications.deliver(systemFork(runtime.database), message);
        } catch (error) {
          runtime.logger.warn({ err: error, ...message }, 'delivery attempt failed outside the provider; trying again shortly');
          await deliveries.enqueue(message, { delayMs: 1000 });
        }
      })
    : undefined;
  return {
    async close() {
      stopResending();
      await lostDeliveries.stop();
      await events.stop();
      await billingEvents.stop();
      await consumer?.stop();
      await deliveries.close();
    },
  };
}
