import { defineSubgraph, OutboxEvent } from '@nexusflow/kit';
import { loadBillingConfig } from './config.ts';
import { BillingCustomer } from './entities/billing-customer.entity.ts';
import { BillingSubscription } from './entities/billing-subscription.entity.ts';
import { CountedEvent } from './entities/counted-event.entity.ts';
import { Plan } from './entities/plan.entity.ts';
import { StripeEvent } from './entities/stripe-event.entity.ts';
import { UsageCounter } from './entities/usage-counter.entity.ts';
import { UsageReport } from './entities/usage-report.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createBillingServices, startBillingWork } from './services.ts';

export const entities = [Plan, BillingCustomer, BillingSubscription, StripeEvent, UsageCounter, UsageReport, CountedEvent, OutboxEvent];

export const subgraph = defineSubgraph({
  name: 'billing',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadBillingConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createBillingServices,
  background: startBillingWork,
  healthChecks: (services) => ({ stripeEventQueue: () => services.stripeEventQueue.ping() }),
  routes: (services) => [services.webhooks.route()],
});
