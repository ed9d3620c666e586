import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callSubgraph, Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { startPaymentsStack, type PaymentsStack, type User } from '../support/payments-stack.ts';

const CREATE_DRAFT = `mutation ($input: CreateInvoiceDraftInput!) { createInvoiceDraft(input: $input) { id status totalMinor } }`;
const ISSUE = `mutation ($id: ID!) { issueInvoice(id: $id) { __typename ... on Invoice { id status number } } }`;
const VOID = `mutation ($id: ID!) { voidInvoice(id: $id) { __typename ... on Invoice { id status } } }`;
const INVOICE = `query ($id: ID!) { invoice(id: $id) { id status paymentId } }`;
const PAY = `mutation ($input: PayInvoiceInput!) { payInvoice(input: $input) {
  __typename
  ... on Payment { id status amountMinor currency stripePaymentIntentId failureMessage }
  ... on CardDeclined { declineCode message payment { id status } }
  ... on UnpayableInvoice { invoiceId reason }
  ... on InvoiceAlreadyPaid { invoiceId existingPayment { id } }
} }`;
const PAYMENT = `query ($id: ID!) { payment(id: $id) { id status amountMinor feeMinor refundedMinor refunds { amountMinor status } } }`;
const PAYMENTS = `query ($invoiceId: ID) { payments(invoiceId: $invoiceId) { id status } }`;
const REFUND = `mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) {
  __typename
  ... on Refund { id status amountMinor }
  ... on PaymentNotFound { paymentId }
  ... on PaymentNotRefundable { refundableMinor }
} }`;
const BALANCES = `query ($currency: String) { accountBalances(currency: $currency) { accountCode balanceMinor } }`;
const ENTRIES = `query ($source: JournalSource, $sourceId: String) {
  journalEntries(first: 100, source: $source, sourceId: $sourceId) { id idempotencyKey amountMinor lines { accountCode debitMinor creditMinor } }
}`;
const ENTRY = `query ($id: ID!) { journalEntry(id: $id) { id source } }`;
const ACCOUNTS = `query { ledgerAccounts(currency: "EUR") { id code balanceMinor normalBalance } }`;
const ACCOUNT = `query ($id: ID!) { ledgerAccount(id: $id) { id code } }`;
const RECONCILIATION = `query ($from: DateTime!, $to: DateTime!) { reconciliation(from: $from, to: $to) {
  clean
  matched { reference kind ledgerAmountMinor billingAmountMinor }
  missingInLedger { reference }
  missingInBilling { reference }
  amountMismatches { reference }
} }`;

/** Two units at 50.00 EUR with 20% tax: 100.00 + 20.00 = 120.00. */
const DRAFT = {
  currency: 'EUR',
  seller: { name: 'Nexus COS Ltd' },
  customer: { name: 'Ada Customer', email: 'ada@example.com' },
  lines: [{ description: 'Streaming plan', quantity: 2, unitPriceMinor: 5_000, taxRatePercent: '20' }],
};
const TOTAL = 12_000;
/** The fake's fee, as Stripe's standard European card pricing rounds it: 2.9% + 0.30. */
const FEE = Math.round(TOTAL * 0.029) + 30;

const user = (tenantId: string, role: Role): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles: [role] });
const codes = (response: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
  response.errors?.map((error) => error.extensions?.code);

describe.each(storageModes(['postgres', 'redis', 'amqp']))(
  'the payments path (backend-api → billing-service → invoice-gen → ledger-mgr) on $storage',
  ({ mode }) => {
    let stack: PaymentsStack;

    beforeAll(async () => {
      stack = await startPaymentsStack(mode, `cos_payments_${mode}`);
    });

    afterAll(async () => {
      await stack?.close();
    });

    const data = async (caller: User, query: string, variables?: Record<string, unknown>) => {
      const response = await stack.send(caller, query, variables);
      expect(response.errors, query).toBeUndefined();
      return response.data!;
    };
    const invoiceGen = () => stack.invoiceGen.services;

    /** An issued invoice of `owner`'s tenant, with its receivable posted to the ledger. */
    const issuedInvoice = async (owner: User): Promise<string> => {
      const draft = (await data(owner, CREATE_DRAFT, { input: DRAFT })).createInvoiceDraft;
      expect(draft).toMatchObject({ status: 'DRAFT', totalMinor: TOTAL });
      expect((await data(owner, ISSUE, { id: draft.id })).issueInvoice).toMatchObject({ __typename: 'Invoice', status: 'ISSUED' });
      await invoiceGen().postings.idle();
      return draft.id as string;
    };
    const balancesOf = async (caller: User) =>
      Object.fromEntries(
        ((await data(caller, BALANCES, { currency: 'EUR' })).accountBalances as { accountCode: string; balanceMinor: number }[]).map(
          (balance) => [balance.accountCode, balance.balanceMinor],
        ),
      );
    const eventOf = (type: string, objectId: string) =>
      stack.stripe.events.find((event) => event.type === type && event.data.object.id === objectId)!;

    it('pays an issued invoice once through Stripe, whatever the webhook deliveries, and keeps the ledger balanced', async () => {
      const tenantId = randomUUID();
      const owner = user(tenantId, Role.Owner);
      const viewer = user(tenantId, Role.Viewer);
      const invoiceId = await issuedInvoice(owner);

      expect(codes(await stack.send(viewer, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } }))).toEqual(['FORBIDDEN']);

      // Stripe's deliveries are held back, then the same event is delivered twice at once.
      const webhookUrl = stack.stripe.webhookUrl;
      stack.stripe.webhookUrl = undefined;
      const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      expect(paid).toMatchObject({ __typename: 'Payment', status: 'PROCESSING', amountMinor: TOTAL, currency: 'EUR' });
      stack.stripe.webhookUrl = webhookUrl;
      const succeeded = eventOf('payment_intent.succeeded', paid.stripePaymentIntentId);
      const deliveries = await Promise.all([stack.stripe.redeliver(succeeded.id), stack.stripe.redeliver(succeeded.id)]);
      expect(deliveries.map((delivery) => delivery.status)).toEqual([200, 200]);
      expect(deliveries.map((delivery) => JSON.parse(delivery.answer).duplicate).sort()).toEqual([false, true]);
      // And once more later, as Stripe retries.
      expect(JSON.parse((await stack.stripe.redeliver(succeeded.id)).answer)).toEqual({ received: true, duplicate: true });

      expect((await data(owner, INVOICE, { id: invoiceId })).invoice).toEqual({ id: invoiceId, status: 'PAID', paymentId: paid.id });
      expect((await data(viewer, PAYMENT, { id: paid.id })).payment).toEqual({
        id: paid.id,
        status: 'SUCCEEDED',
        amountMinor: TOTAL,
        feeMinor: FEE,
        refundedMinor: 0,
        refunds: [],
      });
      expect((await data(viewer, PAYMENTS, { invoiceId })).payments).toEqual([{ id: paid.id, status: 'SUCCEEDED' }]);
      const payments = (await data(viewer, ENTRIES, { source: 'PAYMENT' })).journalEntries;
      expect(payments).toEqual([
        {
          id: expect.any(String),
          idempotencyKey: `payment:${paid.stripePaymentIntentId}`,
          amountMinor: TOTAL,
          lines: [
            { accountCode: 'CASH', debitMinor: TOTAL, creditMinor: 0 },
            { accountCode: 'ACCOUNTS_RECEIVABLE', debitMinor: 0, creditMinor: TOTAL },
          ],
        },
      ]);
      expect((await data(viewer, ENTRIES, { source: 'FEE' })).journalEntries).toHaveLength(1);
      expect((await data(viewer, ENTRY, { id: payments[0].id })).journalEntry).toEqual({ id: payments[0].id, source: 'PAYMENT' });
      expect(await balancesOf(viewer)).toEqual({
        CASH: TOTAL - FEE,
        ACCOUNTS_RECEIVABLE: 0,
        REVENUE: 10_000,
        TAX_PAYABLE: 2_000,
        PROCESSING_FEES: FEE,
      });
      const accounts = (await data(viewer, ACCOUNTS)).ledgerAccounts as { id: string; code: string; balanceMinor: number }[];
      expect(accounts.map((account) => account.code)).toEqual(['CASH', 'ACCOUNTS_RECEIVABLE', 'REVENUE', 'TAX_PAYABLE', 'PROCESSING_FEES']);
      expect((await data(viewer, ACCOUNT, { id: accounts[0]!.id })).ledgerAccount).toEqual({ id: accounts[0]!.id, code: 'CASH' });

      // Paying again is refused, without a second charge.
      expect((await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice).toEqual({
        __typename: 'InvoiceAlreadyPaid',
        invoiceId,
        existingPayment: { id: paid.id },
      });
      expect(stack.stripe.paymentIntents.size).toBe(1);

      // A partial refund, by the owner only, is posted once however Stripe announces it.
      const refundInput = { input: { paymentId: paid.id, amountMinor: 5_000, reason: 'One unit returned' } };
      expect(codes(await stack.send(viewer, REFUND, refundInput))).toEqual(['FORBIDDEN']);
      const refund = (await data(owner, REFUND, refundInput)).refundPayment;
      expect(refund).toMatchObject({ __typename: 'Refund', amountMinor: 5_000 });
      await stack.stripe.settled();
      expect((await data(owner, REFUND, { input: { paymentId: paid.id, amountMinor: 8_000 } })).refundPayment).toEqual({
        __typename: 'PaymentNotRefundable',
        refundableMinor: 7_000,
      });
      expect((await data(viewer, PAYMENT, { id: paid.id })).payment).toMatchObject({
        refundedMinor: 5_000,
        refunds: [{ amountMinor: 5_000, status: 'SUCCEEDED' }],
      });
      expect((await data(viewer, ENTRIES, { source: 'REFUND' })).journalEntries).toHaveLength(1);
      expect(await balancesOf(viewer)).toMatchObject({ CASH: TOTAL - FEE - 5_000, REFUNDS: 5_000, ACCOUNTS_RECEIVABLE: 0 });

      const period = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
      const report = (await data(owner, RECONCILIATION, period)).reconciliation;
      expect(report).toMatchObject({ clean: true, missingInLedger: [], missingInBilling: [], amountMismatches: [] });
      expect((report.matched as { kind: string }[]).map((item) => item.kind).sort()).toEqual(['FEE', 'PAYMENT', 'REFUND']);
      expect(codes(await stack.send(viewer, RECONCILIATION, period))).toEqual(['FORBIDDEN']);
    });

    it('answers a declined card with CardDeclined and lets the invoice be paid with another card', async () => {
      const owner = user(randomUUID(), Role.Admin);
      const invoiceId = await issuedInvoice(owner);
      const declined = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' } }))
        .payInvoice;
      expect(declined).toMatchObject({ __typename: 'CardDeclined', declineCode: 'insufficient_funds', payment: { status: 'FAILED' } });
      const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      expect(paid).toMatchObject({ __typename: 'Payment' });
      await stack.stripe.settled();
      expect((await data(owner, INVOICE, { id: invoiceId })).invoice.status).toBe('PAID');
      expect((await data(owner, PAY, { input: { invoiceId: randomUUID(), paymentMethod: 'pm_card_visa' } })).payInvoice).toMatchObject({
        __typename: 'UnpayableInvoice',
        reason: 'NOT_FOUND',
      });
    });

    it('lets the invoice go when Stripe refuses the payment itself, saying why, so that it is not held for good', async () => {
      const admin = user(randomUUID(), Role.Admin);
      const otherAdmin: User = { ...admin, userId: randomUUID() };
      const draft = (
        await data(admin, CREATE_DRAFT, {
          input: { ...DRAFT, lines: [{ description: 'A sample', quantity: 1, unitPriceMinor: 30, taxRatePercent: '0' }] },
        })
      ).createInvoiceDraft;
      await data(admin, ISSUE, { id: draft.id });
      await invoiceGen().postings.idle();

      const paymentIntentsBefore = stack.stripe.paymentIntents.size;
      // Thirty cents is under Stripe's minimum charge: Stripe refuses the request and takes nothing.
      const refused = (await data(admin, PAY, { input: { invoiceId: draft.id, paymentMethod: 'pm_card_visa' } })).payInvoice;
      expect(refused).toMatchObject({ __typename: 'Payment', status: 'FAILED', stripePaymentIntentId: null });
      expect(refused.failureMessage).toMatch(/at least 50 eur/);
      expect((await data(otherAdmin, PAY, { input: { invoiceId: draft.id, paymentMethod: 'pm_card_visa' } })).payInvoice).toMatchObject({
        __typename: 'Payment',
        status: 'FAILED',
      });
      expect((await data(admin, PAYMENTS, { invoiceId: draft.id })).payments).toEqual([
        { id: expect.any(String), status: 'FAILED' },
        { id: refused.id, status: 'FAILED' },
      ]);
      expect((await data(admin, INVOICE, { id: draft.id })).invoice.status).toBe('ISSUED');
      expect(stack.stripe.paymentIntents.size).toBe(paymentIntentsBefore);
    });

    it('keeps a refund asked for while Stripe is down, and sends it once when Stripe is back', async () => {
      const owner = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoice(owner);
      const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      await stack.stripe.settled();
      const refundsBefore = stack.stripe.refunds.size;

      // The request and its one retry both meet Stripe's outage: the refund is kept, to be sent later.
      stack.stripe.failRequests('/v1/refunds', 2);
      const refund = (await data(owner, REFUND, { input: { paymentId: paid.id, amountMinor: 5_000 } })).refundPayment;
      expect(refund).toMatchObject({ __typename: 'Refund', amountMinor: 5_000, status: 'PENDING' });
      expect(stack.stripe.refunds.size).toBe(refundsBefore);
      expect((await data(owner, REFUND, { input: { paymentId: paid.id, amountMinor: 8_000 } })).refundPayment).toEqual({
        __typename: 'PaymentNotRefundable',
        refundableMinor: 7_000,
      });

      await stack.billing.services.unsentRefunds.runNow();
      await stack.stripe.settled();
      // A pass once the refund has gone asks Stripe nothing more.
      const refundRequests = () =>
        stack.stripe.requests.filter((request) => request.method === 'POST' && request.path === '/v1/refunds').length;
      const asked = refundRequests();
      await stack.billing.services.unsentRefunds.runNow();
      expect(refundRequests()).toBe(asked);
      expect((await data(owner, PAYMENT, { id: paid.id })).payment).toMatchObject({
        refundedMinor: 5_000,
        refunds: [{ amountMinor: 5_000, status: 'SUCCEEDED' }],
      });
      expect(stack.stripe.refunds.size).toBe(refundsBefore + 1);
    });

    /** An issued invoice of `owner`'s tenant for one line of `unitPriceMinor` in `currency`, untaxed. */
    const issuedInvoiceIn = async (owner: User, currency: string, unitPriceMinor: number): Promise<string> => {
      const lines = [{ description: 'Streaming plan', quantity: 1, unitPriceMinor, taxRatePercent: '0' }];
      const draft = (await data(owner, CREATE_DRAFT, { input: { ...DRAFT, currency, lines } })).createInvoiceDraft;
      expect(draft).toMatchObject({ totalMinor: unitPriceMinor });
      await data(owner, ISSUE, { id: draft.id });
      await invoiceGen().postings.idle();
      return draft.id as string;
    };
    const balancesIn = async (caller: User, currency: string) =>
      Object.fromEntries(
        ((await data(caller, BALANCES, { currency })).accountBalances as { accountCode: string; balanceMinor: number }[]).map((balance) => [
          balance.accountCode,
          balance.balanceMinor,
        ]),
      );

    it("charges Icelandic krónur in the hundredths Stripe's API counts them in, and books whole krónur", async () => {
      const owner = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoiceIn(owner, 'ISK', 12_500);

      const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      expect(paid).toMatchObject({ __typename: 'Payment', amountMinor: 12_500, currency: 'ISK' });
      expect(stack.stripe.paymentIntents.get(paid.stripePaymentIntentId)).toMatchObject({ amount: 1_250_000, currency: 'isk' });
      await stack.stripe.settled();
      // Stripe's fee on 1,250,000 hundredths (2.9% + 30) is 36,280 hundredths: 363 krónur, rounded.
      expect((await data(owner, PAYMENT, { id: paid.id })).payment).toMatchObject({ status: 'SUCCEEDED', feeMinor: 363 });
      expect(await balancesIn(owner, 'ISK')).toMatchObject({ CASH: 12_500 - 363, ACCOUNTS_RECEIVABLE: 0, PROCESSING_FEES: 363 });

      const refund = (await data(owner, REFUND, { input: { paymentId: paid.id, amountMinor: 2_500 } })).refundPayment;
      expect(refund).toMatchObject({ __typename: 'Refund', amountMinor: 2_500 });
      await stack.stripe.settled();
      expect([...stack.stripe.refunds.values()].find((each) => each.metadata.refundId === refund.id)).toMatchObject({ amount: 250_000 });
      expect((await data(owner, PAYMENT, { id: paid.id })).payment).toMatchObject({ refundedMinor: 2_500 });
    });

    it("books Stripe's fee in the payment's currency, at Stripe's rate, when the account settles in another", async () => {
      const owner = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoiceIn(owner, 'JPY', 10_000);
      // The account settles in US dollars: ¥10,000 becomes 6,700 cents, and Stripe keeps 2.9% + 30 of that, 224 cents.
      stack.stripe.settlement = { currency: 'usd', rate: 0.67 };
      try {
        const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
        await stack.stripe.settled();
        const fee = Math.round(((Math.round(6_700 * 0.029) + 30) * 10_000) / 6_700);
        expect(fee).toBe(334);
        expect((await data(owner, PAYMENT, { id: paid.id })).payment).toMatchObject({ status: 'SUCCEEDED', feeMinor: fee });
        expect(await balancesIn(owner, 'JPY')).toEqual({
          CASH: 10_000 - fee,
          ACCOUNTS_RECEIVABLE: 0,
          REVENUE: 10_000,
          PROCESSING_FEES: fee,
        });
        expect(await balancesIn(owner, 'USD')).toEqual({});
        const period = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
        const report = (await data(owner, RECONCILIATION, period)).reconciliation;
        expect(report).toMatchObject({ clean: true, amountMismatches: [] });
        expect((report.matched as { kind: string }[]).map((item) => item.kind).sort()).toEqual(['FEE', 'PAYMENT']);
      } finally {
        stack.stripe.settlement = undefined;
      }
    });

    it('gives a payment back by itself when its invoice was voided while Stripe was taking it, and leaves the books square', async () => {
      const owner = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoice(owner);
      // Stripe has taken the money; its webhook is late, and meanwhile an admin voids the invoice.
      const webhookUrl = stack.stripe.webhookUrl;
      stack.stripe.webhookUrl = undefined;
      const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      expect((await data(owner, VOID, { id: invoiceId })).voidInvoice).toMatchObject({ __typename: 'Invoice', status: 'VOID' });
      await invoiceGen().postings.idle();
      stack.stripe.webhookUrl = webhookUrl;

      // Stripe is down when the refund is sent, twice (a request and its retry each time), and the ledger's answer to
      // the payment's posting is lost: the event is applied again, finding the refund it recorded, and the pass over
      // unsent refunds sends it once Stripe is back.
      stack.stripe.failRequests('/v1/refunds', 4);
      stack.toLedger.loseAnswers('BillingPostJournalEntry', 1);
      await stack.stripe.redeliver(eventOf('payment_intent.succeeded', paid.stripePaymentIntentId).id);
      await stack.billing.services.pendingEvents.runNow();
      expect(await stack.billing.services.stripeEvents.pendingCount()).toBe(0);
      expect((await data(owner, PAYMENT, { id: paid.id })).payment.refunds).toEqual([{ amountMinor: TOTAL, status: 'PENDING' }]);
      expect([...stack.stripe.refunds.values()].filter((each) => each.payment_intent === paid.stripePaymentIntentId)).toEqual([]);
      await stack.billing.services.unsentRefunds.runNow();
      await stack.stripe.settled();

      expect((await data(owner, PAYMENT, { id: paid.id })).payment).toMatchObject({
        status: 'SUCCEEDED',
        refundedMinor: TOTAL,
        refunds: [{ amountMinor: TOTAL, status: 'SUCCEEDED' }],
      });
      expect([...stack.stripe.refunds.values()].filter((each) => each.payment_intent === paid.stripePaymentIntentId)).toEqual([
        expect.objectContaining({ amount: TOTAL, status: 'succeeded' }),
      ]);
      expect((await data(owner, INVOICE, { id: invoiceId })).invoice.status).toBe('VOID');
      // Issued, voided, paid and given back: nothing is owed either way, and only Stripe's fee, which it keeps, is spent.
      expect(await balancesOf(owner)).toEqual({
        CASH: -FEE,
        ACCOUNTS_RECEIVABLE: 0,
        REVENUE: 0,
        TAX_PAYABLE: 0,
        PROCESSING_FEES: FEE,
      });
      const period = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
      expect((await data(owner, RECONCILIATION, period)).reconciliation).toMatchObject({ clean: true });
    });

    it('gives a late-succeeding payment back when another payment paid its invoice meanwhile', async () => {
      const owner = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoice(owner);
      const webhookUrl = stack.stripe.webhookUrl;
      stack.stripe.webhookUrl = undefined;
      const first = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      stack.stripe.webhookUrl = webhookUrl;
      // The bank declines the first payment late, which lets go of the invoice, and a second one pays it.
      await stack.stripe.failAfterwards(first.stripePaymentIntentId);
      await stack.stripe.settled();
      expect((await data(owner, PAYMENT, { id: first.id })).payment.status).toBe('FAILED');
      const second = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      await stack.stripe.settled();
      expect((await data(owner, INVOICE, { id: invoiceId })).invoice).toEqual({ id: invoiceId, status: 'PAID', paymentId: second.id });

      // Then Stripe reports the first one succeeded after all.
      await stack.stripe.redeliver(eventOf('payment_intent.succeeded', first.stripePaymentIntentId).id);
      await stack.stripe.settled();

      expect(await stack.billing.services.stripeEvents.pendingCount()).toBe(0);
      expect((await data(owner, PAYMENT, { id: first.id })).payment).toMatchObject({
        status: 'SUCCEEDED',
        refundedMinor: TOTAL,
        refunds: [{ amountMinor: TOTAL, status: 'SUCCEEDED' }],
      });
      expect((await data(owner, PAYMENT, { id: second.id })).payment).toMatchObject({ status: 'SUCCEEDED', refundedMinor: 0 });
      expect((await data(owner, INVOICE, { id: invoiceId })).invoice.paymentId).toBe(second.id);
      expect(await balancesOf(owner)).toEqual({
        CASH: TOTAL - 2 * FEE,
        ACCOUNTS_RECEIVABLE: 0,
        REVENUE: 10_000,
        TAX_PAYABLE: 2_000,
        PROCESSING_FEES: 2 * FEE,
      });
    });

    it('posts a payment once when billing-service stops after recording the event and before it finished posting', async () => {
      const owner = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoice(owner);
      // ledger-mgr posts the payment, and its answer is lost: billing-service cannot tell whether it was posted.
      stack.toLedger.loseAnswers('BillingPostJournalEntry', 1);
      const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      await stack.stripe.settled();
      expect(stack.toLedger.lost).toContain('BillingPostJournalEntry');
      expect(await stack.billing.services.stripeEvents.pendingCount()).toBe(1);
      expect((await data(owner, ENTRIES, { source: 'FEE' })).journalEntries).toEqual([]);

      await stack.restartBilling();
      await stack.billing.services.pendingEvents.runNow();

      expect(await stack.billing.services.stripeEvents.pendingCount()).toBe(0);
      const key = `payment:${paid.stripePaymentIntentId}`;
      const entries = (await data(owner, ENTRIES, {})).journalEntries as { idempotencyKey: string }[];
      expect(entries.filter((entry) => entry.idempotencyKey === key)).toHaveLength(1);
      expect(entries.filter((entry) => entry.idempotencyKey.startsWith('fee:'))).toHaveLength(1);
      expect(await balancesOf(owner)).toEqual({
        CASH: TOTAL - FEE,
        ACCOUNTS_RECEIVABLE: 0,
        REVENUE: 10_000,
        TAX_PAYABLE: 2_000,
        PROCESSING_FEES: FEE,
      });
      expect((await data(owner, INVOICE, { id: invoiceId })).invoice.status).toBe('PAID');
    });

    it('reports a cash movement of the ledger that billing does not know as missing in billing', async () => {
      const owner = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoice(owner);
      await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } });
      await stack.stripe.settled();
      // A payment posted to the ledger by hand, which Stripe never settled.
      const occurredAt = new Date().toISOString();
      const posted = await callSubgraph<{ postJournalEntry: { __typename: string } }, unknown>({
        url: stack.ledgerMgr.graphqlUrl,
        query: `mutation ($input: PostJournalEntryInput!) { postJournalEntry(input: $input) { __typename } }`,
        variables: {
          input: {
            idempotencyKey: 'payment:pi_unknown_to_billing',
            source: 'PAYMENT',
            sourceId: 'pi_unknown_to_billing',
            description: 'A payment billing never took',
            occurredAt,
            currency: 'EUR',
            lines: [
              { account: 'CASH', debitMinor: 999, creditMinor: 0 },
              { account: 'ACCOUNTS_RECEIVABLE', debitMinor: 0, creditMinor: 999 },
            ],
          },
        },
        identity: owner,
        internalSecret: stack.ledgerMgr.config.internalSecret,
      });
      expect(posted.postJournalEntry.__typename).toBe('PostedJournalEntry');
      const period = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
      const report = (await data(owner, RECONCILIATION, period)).reconciliation;
      expect(report).toMatchObject({
        clean: false,
        missingInBilling: [{ reference: 'payment:pi_unknown_to_billing' }],
        missingInLedger: [],
        amountMismatches: [],
      });
      expect(report.matched).toHaveLength(2);
    });

    it("keeps each tenant's payments and ledger to itself", async () => {
      const owner = user(randomUUID(), Role.Owner);
      const stranger = user(randomUUID(), Role.Owner);
      const invoiceId = await issuedInvoice(owner);
      const paid = (await data(owner, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice;
      await stack.stripe.settled();
      const [entry] = (await data(owner, ENTRIES, { source: 'PAYMENT' })).journalEntries;

      expect((await data(stranger, PAYMENT, { id: paid.id })).payment).toBeNull();
      expect((await data(stranger, PAYMENTS, {})).payments).toEqual([]);
      expect((await data(stranger, ENTRIES, {})).journalEntries).toEqual([]);
      expect((await data(stranger, ENTRY, { id: entry.id })).journalEntry).toBeNull();
      expect((await data(stranger, BALANCES, {})).accountBalances).toEqual([]);
      expect((await data(stranger, PAY, { input: { invoiceId, paymentMethod: 'pm_card_visa' } })).payInvoice).toMatchObject({
        __typename: 'UnpayableInvoice',
        reason: 'NOT_FOUND',
      });
      expect((await data(stranger, REFUND, { input: { paymentId: paid.id } })).refundPayment).toEqual({
        __typename: 'PaymentNotFound',
        paymentId: paid.id,
      });
      const period = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
      expect((await data(stranger, RECONCILIATION, period)).reconciliation).toMatchObject({ clean: true, matched: [] });
      expect((await data(owner, PAYMENT, { id: paid.id })).payment.status).toBe('SUCCEEDED');
    });
  },
);
