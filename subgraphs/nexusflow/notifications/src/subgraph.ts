import { loadTypeDefs, type SubgraphDefinition } from '@nexusflow/kit';
import type { NotificationsConfig } from './config.ts';
import type { NotificationServices } from './context.ts';
import { Contact } from './entities/contact.entity.ts';
import { Delivery } from './entities/delivery.entity.ts';
import { Notification } from './entities/notification.entity.ts';
import { Preference } from './entities/preference.entity.ts';
import { ProcessedEvent } from './entities/processed-event.entity.ts';
import { Template } from './entities/template.entity.ts';
import { createLoaders, type NotificationLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createNotificationServices, startNotificationWork } from './services.ts';

export const typeDefs = loadTypeDefs(new URL('../schema.graphql', import.meta.url));
export const entities = [Notification, Delivery, Preference, Contact, Template, ProcessedEvent];

export function notificationsSubgraph(config: NotificationsConfig): SubgraphDefinition<NotificationLoaders, NotificationServices> {
  let parts: ReturnType<typeof createNotificationServices> | undefined;
  const started = () => {
    if (!parts) throw new Error('notification services are not created yet');
    return parts;
  };
  return {
    typeDefs,
    resolvers: resolvers as SubgraphDefinition<NotificationLoaders, NotificationServices>['resolvers'],
    entities,
    migrations,
    createLoaders,
    createServices: (runtime) => {
      parts = createNotificationServices(config, runtime);
      return parts.services;
    },
    background: (runtime) => startNotificationWork(config, started(), runtime),
    healthChecks: () => ({ deliveryQueue: () => started().queue.ping() }),
  };
}
