import { defineSubgraph } from '@nexusflow/kit';
import { loadNotificationsConfig } from './config.ts';
import { Contact } from './entities/contact.entity.ts';
import { Delivery } from './entities/delivery.entity.ts';
import { Notification } from './entities/notification.entity.ts';
import { Preference } from './entities/preference.entity.ts';
import { ProcessedEvent } from './entities/processed-event.entity.ts';
import { Template } from './entities/template.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createNotificationServices, startNotificationWork } from './services.ts';

export const entities = [Notification, Delivery, Preference, Contact, Template, ProcessedEvent];

export const subgraph = defineSubgraph({
  name: 'notifications',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadNotificationsConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createNotificationServices,
  background: startNotificationWork,
  healthChecks: (services) => ({ deliveryQueue: () => services.deliveries.ping() }),
});
