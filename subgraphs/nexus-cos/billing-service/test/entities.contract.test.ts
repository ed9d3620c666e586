import { randomUUID } from 'node:crypto';
import { describeEntityContract } from '@nexusflow/kit/testing';
import { Payment } from '../src/entities/payment.entity.ts';
import { Refund } from '../src/entities/refund.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('billing-service', {
  start: (env) => subgraph.start(env),
  env: { STRIPE_EVENT_RETRY_INTERVAL_MS: '0' },
  entities: {
    Payment: {
      selection: 'status amountMinor currency feeMinor refunds { amountMinor status }',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, () => {
          const payment = em.create(Payment, {
            id: randomUUID(),
            tenantId,
            createdBy: tenantId,
            invoiceId: randomUUID(),
            activeInvoiceId: null,
            status: 'SUCCEEDED',
            amountMinor: 1_000,
            currency: 'EUR',
            paymentMethod: 'pm_card_visa',
            stripePaymentIntentId: `pi_${randomUUID()}`,
            stripeBalanceTransactionId: null,
            feeMinor: 59,
            refundedMinor: 100,
            failureMessage: null,
            declineCode: null,
            succeededAt: new Date(),
          });
          em.create(Refund, {
            id: randomUUID(),
            tenantId,
            createdBy: tenantId,
            paymentId: payment.id,
            status: 'SUCCEEDED',
            amountMinor: 100,
            currency: 'EUR',
            reason: null,
            stripeRefundId: null,
            failureMessage: null,
            succeededAt: new Date(),
          });
          return payment.id;
        }),
    },
  },
});
