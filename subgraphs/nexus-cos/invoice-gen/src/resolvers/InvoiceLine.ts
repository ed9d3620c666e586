import type { InvoiceLineResolvers } from '../__generated__/resolvers-types.ts';
import { formatPercent } from '../domain/money.ts';

export const InvoiceLine: InvoiceLineResolvers = {
  taxRatePercent: (line) => formatPercent(line.taxRatePpm),
  totalMinor: (line) => line.amountMinor + line.taxMinor,
};
