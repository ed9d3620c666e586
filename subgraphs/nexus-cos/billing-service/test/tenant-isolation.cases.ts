import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const DRAFT = `mutation ($input: CreateInvoiceDraftInput!) { createInvoiceDraft(input: $input) { id } }`;
const ISSUE = `mutation ($id: ID!) { issueInvoice(id: $id) { __typename } }`;
const PAYMENTS = '{ payments(first: 100) { id status refundedMinor } }';
const PAYMENT = 'query ($id: ID!) { payment(id: $id) { id } }';
const PAY = `mutation ($input: PayInvoiceInput!) { payInvoice(input: $input) { __typename ... on UnpayableInvoice { reason } } }`;
const REFUND = `mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) { __typename } }`;

/**
 * Tenant B (a stranger) can neither see, pay nor refund tenant A's invoices and payments: run by
 * test/integration/tenant-isolation.test.ts. A payment needs Stripe, so tenant A's state is its issued invoice and its
 * payments as it lists them (one per paid invoice where the suite runs a Stripe).
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const draft = await data(a, DRAFT, {
      input: {
        currency: 'EUR',
        seller: { name: 'Tenant A' },
        customer: { name: 'Its customer' },
        lines: [{ description: 'Tenant A only', quantity: 1, unitPriceMinor: 1_000, taxRatePercent: '0' }],
      },
    });
    const invoiceId = draft.createInvoiceDraft.id as string;
    await data(a, ISSUE, { id: invoiceId });
    await data(a, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } });
    const payments = (await data(a, PAYMENTS)).payments as { id: string }[];
    return { invoiceId, paymentId: payments[0]?.id ?? invoiceId };
  },
  stateOfA: ({ a, data }) => data(a, PAYMENTS),
  root: {
    'Query.payments': async ({ b, data }) => {
      expect((await data(b, PAYMENTS)).payments).toEqual([]);
    },
    'Query.payment': async ({ b, data }, { paymentId }) => {
      expect((await data(b, PAYMENT, { id: paymentId })).payment).toBeNull();
    },
    'Mutation.payInvoice': async ({ b, data }, { invoiceId }) => {
      expect((await data(b, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice).toEqual({
        __typename: 'UnpayableInvoice',
        reason: 'NOT_FOUND',
      });
    },
    'Mutation.refundPayment': async ({ b, data }, { paymentId }) => {
      expect((await data(b, REFUND, { input: { paymentId } })).refundPayment).toEqual({ __typename: 'PaymentNotFound' });
    },
  },
  entities: { Payment: { selection: '... on Payment { id status amountMinor }', id: ({ paymentId }) => paymentId } },
});
