import { defineSubgraph } from '@nexusflow/kit';
import { loadInvoiceGenConfig } from './config.ts';
import { InvoiceService } from './domain/invoice-service.ts';
import { Invoice } from './entities/invoice.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';

export const entities = [Invoice];

export const subgraph = defineSubgraph({
  name: 'invoice-gen',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadInvoiceGenConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: () => ({ invoices: new InvoiceService() }),
});
