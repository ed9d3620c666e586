import { defineSubgraph } from '@nexusflow/kit';
import { loadBillingServiceConfig } from './config.ts';
import { PaymentService } from './domain/payment-service.ts';
import { Payment } from './entities/payment.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [Payment];

export const subgraph = defineSubgraph({
  name: 'billing-service',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadBillingServiceConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ payments: new PaymentService() }),
});
