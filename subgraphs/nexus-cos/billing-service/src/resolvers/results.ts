import type { PayInvoiceResultResolvers, RefundPaymentResultResolvers } from '../__generated__/resolvers-types.ts';

/** A payment or refund is returned as its entity, which has no `__typename`; the typed failures say what they are. */
export const PayInvoiceResult: PayInvoiceResultResolvers = {
  __resolveType: (result) => ('__typename' in result && result.__typename ? result.__typename : 'Payment'),
};

export const RefundPaymentResult: RefundPaymentResultResolvers = {
  __resolveType: (result) => ('__typename' in result && result.__typename ? result.__typename : 'Refund'),
};
