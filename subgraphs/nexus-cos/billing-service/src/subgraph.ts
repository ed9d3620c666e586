import { defineSubgraph } from '@nexusflow/kit';
import { loadBillingServiceConfig } from './config.ts';
import { Payment } from './entities/payment.entity.ts';
import { Refund } from './entities/refund.entity.ts';
import { StripeEvent } from './entities/stripe-event.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createServices } from './services.ts';

export const entities = [Payment, Refund, StripeEvent];

export const subgraph = defineSubgraph({
  name: 'billing-service',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadBillingServiceConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices,
  routes: (services) => [services.stripeEvents.route()],
  background: async (_runtime, services, config) => {
    services.pendingEvents.start(config.eventRetryIntervalMs);
    services.unsentRefunds.start(config.eventRetryIntervalMs);
    return {
      close: async () => {
        await Promise.all([services.pendingEvents.stop(), services.unsentRefunds.stop()]);
      },
    };
  },
});
