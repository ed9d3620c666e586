import { randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  badUserInput,
  clientError,
  ErrorCode,
  pageSize,
  parseInput,
  requireRole,
  requireUser,
  requireUuid,
  Role,
  SubgraphRequestError,
  WRITER_ROLES,
  type EntityManager,
  type Identity,
  type Logger,
} from '@nexusflow/kit';
import { z } from 'zod';
import { Payment } from '../entities/payment.entity.ts';
import { Refund } from '../entities/refund.entity.ts';
import type { Downstream } from './downstream.ts';
import { sendRefund } from './refund-sender.ts';
import { stripeAmountRule, toStripeAmount } from './stripe-amounts.ts';
import { requireStripe, Stripe, stripeFailure } from './stripe-client.ts';

const MAX_PAGE = 100;
/** A year of movements at most per reconciliation read. */
const MAX_PERIOD_MS = 366 * 24 * 3_600_000;

export type PayInvoiceResult =
  | Payment
  | { __typename: 'CardDeclined'; payment: Payment; declineCode: string | null; message: string }
  | { __typename: 'UnpayableInvoice'; invoiceId: string; reason: 'NOT_FOUND' | 'NOT_ISSUED' | 'VOID' | 'NOTHING_DUE'; message: string }
  | { __typename: 'InvoiceAlreadyPaid'; invoiceId: string; existingPayment: Payment | null; message: string };

export type RefundPaymentResult =
  | Refund
  | { __typename: 'PaymentNotFound'; paymentId: string; message: string }
  | { __typename: 'PaymentNotRefundable'; payment: Payment; refundableMinor: number; message: string };

export interface SettledMoneyMovement {
  reference: string;
  kind: 'PAYMENT' | 'REFUND' | 'FEE';
  currency: string;
  amountMinor: number;
  occurredAt: Date;
}

const payInvoiceInputSchema = z.object({
  invoiceId: z.uuid('must be a UUID'),
  paymentMethod: z.string().regex(/^pm_\w{1,200}$/, 'must be a Stripe PaymentMethod id (pm_…)'),
});

const refundPaymentInputSchema = z.object({
  paymentId: z.uuid('must be a UUID'),
  amountMinor: z.number().int('must be a whole number').min(1, 'must be at least 1').nullish(),
  reason: z.string().trim().max(500, 'must be at most 500 characters').nullish(),
});

/** The ledger's key of each movement, as billing posts it: how reconciliation pairs both sides. */
export const ledgerKeys = {
  payment: (paymentIntentId: string) => `payment:${paymentIntentId}`,
  fee: (balanceTransactionId: string) => `fee:${balanceTransactionId}`,
  refund: (stripeRefundId: string) => `refund:${stripeRefundId}`,
};

/** Payments of invoices through Stripe, and their refunds: what a tenant's people ask for through the graph. */
export class Payments {
  constructor(
    private readonly stripe: Stripe | undefined,
    private readonly downstream: Downstream,
    private readonly logger: Logger,
  ) {}

  async list(em: EntityManager, identity: Identity, first: number, invoiceId: string | null | undefined): Promise<Payment[]> {
    requireUser(identity);
    const limit = pageSize(first, MAX_PAGE);
    if (limit === 0) return [];
    return em.find(Payment, invoiceId ? { invoiceId: requireUuid(invoiceId, 'invoiceId') } : {}, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit,
    });
  }

  /**
   * Charges an issued invoice's total. The payment holds its invoice while it is processing or has succeeded, so a second
   * payment of the same invoice (a double click, two people) is told the invoice is being paid; the PaymentIntent is
   * created with the payment's own idempotency key, so a retry after a lost answer charges once. What Stripe settled is
   * applied when its webhook arrives (see StripeEvents).
   */
  async payInvoice(em: EntityManager, identity: Identity, input: unknown): Promise<PayInvoiceResult> {
    const caller = requireRole(identity, WRITER_ROLES);
    const { invoiceId, paymentMethod } = parseInput(payInvoiceInputSchema, input);
    const stripe = requireStripe(this.stripe);
    const invoice = await this.invoiceOf(identity, invoiceId);
    if (!invoice) return { __typename: 'UnpayableInvoice', invoiceId, reason: 'NOT_FOUND', message: 'No such invoice' };
    if (invoice.status === 'PAID') {
      const payment = await em.findOne(Payment, { invoiceId, status: 'SUCCEEDED' });
      return { __typename: 'InvoiceAlreadyPaid', invoiceId, existingPayment: payment, message: 'The invoice is paid already' };
    }
    if (invoice.status === 'DRAFT') {
      return { __typename: 'UnpayableInvoice', invoiceId, reason: 'NOT_ISSUED', message: 'Only an issued invoice can be paid' };
    }
    if (invoice.status === 'VOID') return { __typename: 'UnpayableInvoice', invoiceId, reason: 'VOID', message: 'The invoice was voided' };
    if (invoice.totalMinor <= 0) {
      return { __typename: 'UnpayableInvoice', invoiceId, reason: 'NOTHING_DUE', message: 'The invoice has nothing to pay' };
    }

    let payment = em.create(Payment, {
      id: randomUUID(),
      tenantId: caller.tenantId,
      createdBy: caller.userId,
      invoiceId,
      activeInvoiceId: invoiceId,
      status: 'PROCESSING',
      amountMinor: invoice.totalMinor,
      currency: invoice.currency.toUpperCase(),
      paymentMethod,
      refundedMinor: 0,
      stripePaymentIntentId: null,
      stripeBalanceTransactionId: null,
      feeMinor: null,
      failureMessage: null,
      declineCode: null,
      succeededAt: null,
    });
    try {
      await em.flush();
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      em.clear();
      const holder = await em.findOneOrFail(Payment, { activeInvoiceId: invoiceId });
      // A payment whose PaymentIntent was never confirmed to us (Stripe unreachable): sent again under its own key.
      if (holder.status !== 'PROCESSING' || holder.stripePaymentIntentId || holder.createdBy !== caller.userId) {
        return {
          __typename: 'InvoiceAlreadyPaid',
          invoiceId,
          existingPayment: holder,
          message: 'The invoice is paid or being paid already',
        };
      }
      payment = holder;
    }
    return this.charge(em, stripe, payment, invoice.number);
  }

  private async charge(em: EntityManager, stripe: Stripe, payment: Payment, invoiceNumber: string | null): Promise<PayInvoiceResult> {
    const amount = toStripeAmount(payment.currency, payment.amountMinor);
    if (amount === null) return this.refused(em, payment, stripeAmountRule(payment.currency));
    try {
      const intent = await stripe.paymentIntents.create(
        {
          amount,
          currency: payment.currency.toLowerCase(),
          payment_method: payment.paymentMethod,
          confirm: true,
          description: invoiceNumber ? `Invoice ${invoiceNumber}` : `Invoice ${payment.invoiceId}`,
          metadata: { tenantId: payment.tenantId, paymentId: payment.id, invoiceId: payment.invoiceId },
        },
        { idempotencyKey: `payment:${payment.id}:intent` },
      );
      payment.stripePaymentIntentId = intent.id;
      await em.flush();
      return payment;
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        this.logger.warn({ err: error, paymentId: payment.id }, 'Stripe refused a payment');
        return this.refused(em, payment, error.message);
      }
      if (!(error instanceof Stripe.errors.StripeCardError)) throw stripeFailure(error);
      payment.status = 'FAILED';
      payment.activeInvoiceId = null;
      payment.stripePaymentIntentId = error.payment_intent?.id ?? null;
      payment.declineCode = error.decline_code ?? null;
      payment.failureMessage = error.message.slice(0, 500);
      await em.flush();
      return { __typename: 'CardDeclined', payment, declineCode: payment.declineCode, message: error.message };
    }
  }

  /**
   * A payment Stripe refuses outright, or would (an amount under its minimum, a payment method it does not know): nothing
   * was taken, and sending it again would be refused again, so it fails and lets go of its invoice.
   */
  private async refused(em: EntityManager, payment: Payment, reason: string): Promise<Payment> {
    payment.status = 'FAILED';
    payment.activeInvoiceId = null;
    payment.failureMessage = reason.slice(0, 500);
    await em.flush();
    return payment;
  }

  private async invoiceOf(identity: Identity, invoiceId: string) {
    try {
      return await this.downstream.invoice(identity, invoiceId);
    } catch (error) {
      if (error instanceof SubgraphRequestError && error.retryable) {
        throw clientError(ErrorCode.ServiceUnavailable, 'invoice-gen cannot be reached right now; try again shortly');
      }
      throw error;
    }
  }

  /**
   * Gives back part or all of a succeeded payment. The payment's row is locked while what is left is computed and the
   * refund recorded, so concurrent refunds never give back more than was paid; the Stripe refund carries the refund's
   * own idempotency key. Stripe's webhook says when it settled (see StripeEvents).
   */
  async refundPayment(em: EntityManager, identity: Identity, input: unknown): Promise<RefundPaymentResult> {
    const caller = requireRole(identity, [Role.Owner, Role.Admin]);
    const { paymentId, amountMinor, reason } = parseInput(refundPaymentInputSchema, input);
    const stripe = requireStripe(this.stripe);
    const outcome = await em.transactional(async (tx): Promise<RefundPaymentResult> => {
      const payment = await tx.findOne(Payment, { id: paymentId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!payment) return { __typename: 'PaymentNotFound', paymentId, message: 'No such payment' };
      const given = await tx.find(Refund, { paymentId, status: { $ne: 'FAILED' } });
      const refundableMinor =
        payment.status === 'SUCCEEDED' ? payment.amountMinor - given.reduce((sum, each) => sum + each.amountMinor, 0) : 0;
      const amount = amountMinor ?? refundableMinor;
      if (payment.status === 'SUCCEEDED' && amount > 0 && toStripeAmount(payment.currency, amount) === null) {
        return {
          __typename: 'PaymentNotRefundable',
          payment,
          refundableMinor,
          message: stripeAmountRule(payment.currency),
        };
      }
      if (payment.status !== 'SUCCEEDED' || !payment.stripePaymentIntentId || amount > refundableMinor || amount <= 0) {
        return {
          __typename: 'PaymentNotRefundable',
          payment,
          refundableMinor,
          message:
            payment.status === 'SUCCEEDED'
              ? `At most ${refundableMinor} can be refunded on this payment`
              : 'Only a succeeded payment can be refunded',
        };
      }
      const refund = tx.create(Refund, {
        id: randomUUID(),
        tenantId: caller.tenantId,
        createdBy: caller.userId,
        paymentId,
        status: 'PENDING',
        amountMinor: amount,
        currency: payment.currency,
        reason: reason || null,
        stripeRefundId: null,
        failureMessage: null,
        succeededAt: null,
      });
      return refund;
    });
    if (!(outcome instanceof Refund)) return outcome;
    const refund = await em.findOneOrFail(Refund, { id: outcome.id });
    const payment = await em.findOneOrFail(Payment, { id: refund.paymentId });
    // Recorded, it is given back whatever happens next: while Stripe cannot be reached it stays PENDING, and the pass over
    // unsent refunds sends it under the same key. Asking again would give back twice.
    await sendRefund(em, stripe, refund, payment.stripePaymentIntentId!, this.logger);
    return refund;
  }

  /** Internal, for ledger-mgr's reconciliation: what Stripe settled in [from, to), keyed as billing posts it. */
  async settledMovements(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<SettledMoneyMovement[]> {
    requireRole(identity, [Role.Owner, Role.Admin]);
    if (to.getTime() <= from.getTime() || to.getTime() - from.getTime() > MAX_PERIOD_MS) {
      throw badUserInput('"to" must be after "from", by at most 366 days', { field: 'to' });
    }
    const period = { $gte: from, $lt: to };
    const [payments, refunds] = await Promise.all([
      em.find(Payment, { status: 'SUCCEEDED', succeededAt: period }, { orderBy: { succeededAt: 'asc' } }),
      em.find(Refund, { status: 'SUCCEEDED', succeededAt: period }, { orderBy: { succeededAt: 'asc' } }),
    ]);
    const movements: SettledMoneyMovement[] = [];
    for (const payment of payments) {
      const occurredAt = payment.succeededAt!;
      const base = { currency: payment.currency, occurredAt };
      movements.push({
        ...base,
        reference: ledgerKeys.payment(payment.stripePaymentIntentId!),
        kind: 'PAYMENT',
        amountMinor: payment.amountMinor,
      });
      if (payment.feeMinor && payment.stripeBalanceTransactionId) {
        movements.push({
          ...base,
          reference: ledgerKeys.fee(payment.stripeBalanceTransactionId),
          kind: 'FEE',
          amountMinor: payment.feeMinor,
        });
      }
    }
    for (const refund of refunds) {
      movements.push({
        reference: ledgerKeys.refund(refund.stripeRefundId!),
        kind: 'REFUND',
        currency: refund.currency,
        amountMinor: refund.amountMinor,
        occurredAt: refund.succeededAt!,
      });
    }
    return movements;
  }
}
