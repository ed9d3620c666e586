import type { SubgraphContext } from '@nexusflow/kit';
import type { InvoiceService } from './domain/invoice-service.ts';
import type { InvoiceGenLoaders } from './loaders.ts';

export interface InvoiceGenServices {
  invoices: InvoiceService;
}

export type InvoiceGenContext = SubgraphContext<InvoiceGenLoaders, InvoiceGenServices>;
