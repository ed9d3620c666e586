import { isUuid } from '@nexusflow/kit';
import type { InvoiceResolvers } from '../__generated__/resolvers-types.ts';
import { formatMoney, formatPercent } from '../domain/money.ts';

export const Invoice: InvoiceResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.invoiceById.load(id) : null),
  formattedTotal: (invoice) => formatMoney(invoice.totalMinor, { code: invoice.currency, exponent: invoice.currencyExponent }),
  taxRatePercent: (invoice) => (invoice.taxRatePpm === null || invoice.taxRatePpm === undefined ? null : formatPercent(invoice.taxRatePpm)),
  pdfUrl: (invoice, _args, { services }) => services.pdfLinks.linkTo(invoice),
};
