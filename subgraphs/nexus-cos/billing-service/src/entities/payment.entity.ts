import { tenantFilter, timestampedEntityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export type PaymentStatus = 'PROCESSING' | 'SUCCEEDED' | 'FAILED';

/**
 * A payment of one invoice of one tenant through a Stripe PaymentIntent. While it is processing or has succeeded it
 * holds its invoice (`activeInvoiceId`, unique per tenant), so that an invoice is never charged twice at once.
 */
export const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  filters: tenantFilter(),
  uniques: [{ properties: ['tenantId', 'activeInvoiceId'] }],
  indexes: [{ properties: ['tenantId', 'invoiceId'] }, { properties: ['tenantId', 'succeededAt'] }],
  properties: {
    ...timestampedEntityBase,
    tenantId: p.uuid(),
    /** The user who asked for it. */
    createdBy: p.uuid(),
    invoiceId: p.uuid(),
    /** The invoice while this payment holds it; null once it failed. */
    activeInvoiceId: p.uuid().nullable(),
    status: p.string().length(16).$type<PaymentStatus>(),
    amountMinor: p.integer(),
    currency: p.string().length(3),
    paymentMethod: p.string().length(255),
    stripePaymentIntentId: p.string().length(255).nullable().unique(),
    /** The balance transaction of its charge, whose fee Stripe kept. */
    stripeBalanceTransactionId: p.string().length(255).nullable(),
    /** In the payment's minor units, converted at Stripe's rate when the account settles in another currency. */
    feeMinor: p.integer().nullable(),
    refundedMinor: p.integer().default(0),
    failureMessage: p.string().length(500).nullable(),
    declineCode: p.string().length(100).nullable(),
    /** When Stripe settled it: set once, the date of its ledger entries and of reconciliation. */
    succeededAt: p.datetime().nullable(),
  },
});

export class Payment extends PaymentSchema.class {}
PaymentSchema.setClass(Payment);
