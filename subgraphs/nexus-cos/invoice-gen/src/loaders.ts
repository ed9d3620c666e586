import { loaderById, type EntityManager } from '@nexusflow/kit';
import { Invoice } from './entities/invoice.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { invoiceById: loaderById(em, Invoice) };
}

export type InvoiceGenLoaders = ReturnType<typeof createLoaders>;
