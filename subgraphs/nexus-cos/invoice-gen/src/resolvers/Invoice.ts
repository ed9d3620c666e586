import { isUuid } from '@nexusflow/kit';
import type { InvoiceResolvers } from '../__generated__/resolvers-types.ts';

export const Invoice: InvoiceResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.invoiceById.load(id) : null),
};
