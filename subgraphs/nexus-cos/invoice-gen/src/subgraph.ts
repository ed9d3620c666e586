import { defineSubgraph } from '@nexusflow/kit';
import { loadInvoiceGenConfig } from './config.ts';
import { InvoiceNumberCounter } from './entities/invoice-number-counter.entity.ts';
import { Invoice } from './entities/invoice.entity.ts';
import { LedgerPosting } from './entities/ledger-posting.entity.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations/index.ts';
import { resolvers } from './resolvers/index.ts';
import { createInvoiceGenServices, startInvoiceGenWork } from './services.ts';

export const entities = [Invoice, InvoiceNumberCounter, LedgerPosting];

export const subgraph = defineSubgraph({
  name: 'invoice-gen',
  schema: new URL('../schema.graphql', import.meta.url),
  config: loadInvoiceGenConfig,
  entities,
  migrations,
  resolvers,
  createLoaders,
  createServices: createInvoiceGenServices,
  background: startInvoiceGenWork,
  routes: (services) => [services.pdfRoute],
});
