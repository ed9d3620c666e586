import { tenantFilter, timestampedEntityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export type RefundStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

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
