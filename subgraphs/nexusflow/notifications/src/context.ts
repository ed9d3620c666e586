import type { PubSub, SubgraphContext } from '@nexusflow/kit';
import type { Inbox } from './domain/inbox.ts';
import type { NotificationService } from './domain/notification-service.ts';
import type { NotificationLoaders } from './loaders.ts';

export interface NotificationServices {
  notifications: NotificationService;
  inbox: Inbox;
  live: PubSub;
}

export type NotificationsContext = SubgraphContext<NotificationLoaders, NotificationServices>;
