import DataLoader from 'dataloader';
import { groupByKeys, loaderById, type EntityManager } from '@nexusflow/kit';
import { Payment } from './entities/payment.entity.ts';
import { Refund } from './entities/refund.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return {
    paymentById: loaderById(em, Payment),
    refundsByPaymentId: new DataLoader<string, Refund[]>(async (paymentIds) => {
      const refunds = await em.find(Refund, { paymentId: { $in: [...paymentIds] } }, { orderBy: { createdAt: 'asc', id: 'asc' } });
      return groupByKeys(paymentIds, refunds, (refund) => refund.paymentId);
    }),
  };
}

export type BillingServiceLoaders = ReturnType<typeof createLoaders>;
