import { createWorkQueue, systemFork, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { NotificationsConfig } from './config.ts';
import type { NotificationServices } from './context.ts';
import { Inbox } from './domain/inbox.ts';
import { NotificationService, type DeliveryMessage } from './domain/notification-service.ts';
import { UserDirectory } from './domain/user-directory.ts';
import { createProviders } from './providers/index.ts';

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
      await events.stop();
      await billingEvents.stop();
      await consumer?.stop();
      await deliveries.close();
    },
  };
}
