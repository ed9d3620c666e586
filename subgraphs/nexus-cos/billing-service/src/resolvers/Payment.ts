import { isUuid } from '@nexusflow/kit';
import type { PaymentResolvers } from '../__generated__/resolvers-types.ts';

export const Payment: PaymentResolvers = {
  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.paymentById.load(id) : null),
  refunds: (payment, _args, { loaders }) => loaders.refundsByPaymentId.load(payment.id),
};
