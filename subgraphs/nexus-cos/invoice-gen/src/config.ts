import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const invoiceGenEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexus-cos', 'invoice-gen')),
  /** The public origin of GET /invoices/pdf on this service (the gateway does not proxy it). */
  INVOICE_PDF_BASE_URL: z.url().optional(),
  /** What invoice numbers start with: `<prefix>-<year>-<6 digits>`. */
  INVOICE_NUMBER_PREFIX: z
    .string()
    .regex(/^[A-Z0-9]{1,12}$/, 'upper-case letters and digits, at most 12')
    .default('INV'),
  /** How often postings owed to ledger-mgr are looked for when none was just recorded; 0 turns the poll off. */
  LEDGER_POSTING_INTERVAL_MS: z.coerce.number().int().min(0).default(5_000),
  /** The wait after a posting's first failed attempt; it doubles per attempt, up to 5 minutes. */
  LEDGER_POSTING_BACKOFF_MS: z.coerce.number().int().min(0).default(1_000),
});

export function loadInvoiceGenConfig(env?: Environment) {
  return loadSubgraphConfig('invoice-gen', invoiceGenEnvSchema, env, (parsed) => ({
    pdfBaseUrl: parsed.INVOICE_PDF_BASE_URL ?? `http://localhost:${parsed.PORT}`,
    numberPrefix: parsed.INVOICE_NUMBER_PREFIX,
    ledgerMgrUrl: parsed.LEDGER_MGR_URL,
    ledgerPostingIntervalMs: parsed.LEDGER_POSTING_INTERVAL_MS,
    ledgerPostingBackoffMs: parsed.LEDGER_POSTING_BACKOFF_MS,
  }));
}

export type InvoiceGenConfig = ReturnType<typeof loadInvoiceGenConfig>;
