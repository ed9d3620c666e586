import type { PubSub, SubgraphContext, WorkQueue } from '@nexusflow/kit';
import type { Inbox } from './domain/inbox.ts';
import type { DeliveryMessage, NotificationService } from './domain/notification-service.ts';
import type { NotificationLoaders } from './loaders.ts';

export interface NotificationServices {
  notifications: NotificationService;
  inbox: Inbox;
  live: PubSub;
  /** Deliveries waiting for a worker; the notification service enqueues them, the background work consumes them. */
  deliveries: WorkQueue<DeliveryMessage>;
}

export type NotificationsContext = SubgraphContext<NotificationLoaders, NotificationServices>;
