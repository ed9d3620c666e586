import { loaderById, type EntityManager } from '@nexusflow/kit';
import { Payment } from './entities/payment.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { paymentById: loaderById(em, Payment) };
}

export type BillingServiceLoaders = ReturnType<typeof createLoaders>;
