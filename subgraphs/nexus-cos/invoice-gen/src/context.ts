import type { RouteHandler, SubgraphContext } from '@nexusflow/kit';
import type { InvoicePdfLinks } from './domain/invoice-pdf.ts';
import type { InvoiceService } from './domain/invoices.ts';
import type { LedgerPoster } from './domain/ledger-postings.ts';
import type { InvoiceGenLoaders } from './loaders.ts';

export interface InvoiceGenServices {
  invoices: InvoiceService;
  /** The outbox of journal entries owed to ledger-mgr, and its background poster. */
  postings: LedgerPoster;
  pdfLinks: InvoicePdfLinks;
  /** GET /invoices/pdf?token=…, the signed links' target. */
  pdfRoute: RouteHandler;
}

export type InvoiceGenContext = SubgraphContext<InvoiceGenLoaders, InvoiceGenServices>;
