import { tenantFilter, timestampedEntityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export type RefundStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

/**
 * REQUESTED: a person asked for it. UNOWED: billing-service gave back a payment that arrived for an invoice no longer
 * owed (voided while Stripe was taking it, or paid by another payment); it settles the receivable the payment credited,
 * where a requested refund is a refund expense.
 */
export type RefundKind = 'REQUESTED' | 'UNOWED';

/** Money given back on a payment of one tenant, through a Stripe refund. */
export const RefundSchema = defineEntity({
  name: 'Refund',
  tableName: 'refunds',
  filters: tenantFilter(),
  indexes: [{ properties: ['paymentId'] }, { properties: ['tenantId', 'succeededAt'] }],
  properties: {
    ...timestampedEntityBase,
    tenantId: p.uuid(),
    createdBy: p.uuid(),
    paymentId: p.uuid(),
    kind: p.string().length(16).$type<RefundKind>().default('REQUESTED'),
    status: p.string().length(16).$type<RefundStatus>(),
    amountMinor: p.integer(),
    currency: p.string().length(3),
    reason: p.string().length(500).nullable(),
    stripeRefundId: p.string().length(255).nullable().unique(),
    failureMessage: p.string().length(500).nullable(),
    /** When Stripe settled it: set once, the date of its ledger entry. */
    succeededAt: p.datetime().nullable(),
  },
});

export class Refund extends RefundSchema.class {}
RefundSchema.setClass(Refund);
