import type { Stoppable, SubgraphRuntime } from '@nexusflow/kit';
import type { InvoiceGenConfig } from './config.ts';
import type { InvoiceGenServices } from './context.ts';
import { InvoicePdfLinks } from './domain/invoice-pdf.ts';
import { InvoiceService } from './domain/invoices.ts';
import { LedgerPoster } from './domain/ledger-postings.ts';

export function createInvoiceGenServices(runtime: SubgraphRuntime, config: InvoiceGenConfig): InvoiceGenServices {
  const postings = new LedgerPoster({
    database: runtime.database,
    ledgerMgrUrl: config.ledgerMgrUrl,
    internalSecret: config.subgraph.internalSecret,
    logger: runtime.logger,
    now: runtime.clock,
    backoffMs: config.ledgerPostingBackoffMs,
  });
  const pdfLinks = new InvoicePdfLinks({
    database: runtime.database,
    baseUrl: config.pdfBaseUrl,
    internalSecret: config.subgraph.internalSecret,
    now: runtime.clock,
    logger: runtime.logger,
  });
  return {
    invoices: new InvoiceService({ numberPrefix: config.numberPrefix, postings, now: runtime.clock }),
    postings,
    pdfLinks,
    pdfRoute: pdfLinks.route(),
  };
}

/** The poster of journal entries owed to ledger-mgr: woken by each commit that owes one, and polling for retries. */
export async function startInvoiceGenWork(
  _runtime: SubgraphRuntime,
  services: InvoiceGenServices,
  config: InvoiceGenConfig,
): Promise<Stoppable> {
  return services.postings.start(config.ledgerPostingIntervalMs);
}
