import { randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  afterFailedAttempt,
  ErrorCode,
  HttpError,
  readBody,
  sendJson,
  systemFork,
  type BackoffPolicy,
  type Database,
  type Identity,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import { BILLING_SERVICE_USER_ID, serviceIdentityOf, type Downstream, type JournalEntryToPost } from '../domain/downstream.ts';
import { ledgerKeys } from '../domain/payments.ts';
import { sendRefund } from '../domain/refund-sender.ts';
import { fromStripeAmount, toStripeAmount } from '../domain/stripe-amounts.ts';
import { requireStripe, Stripe, stripeFailure } from '../domain/stripe-client.ts';
import { Payment } from '../entities/payment.entity.ts';
import { Refund } from '../entities/refund.entity.ts';
import { StripeEvent } from '../entities/stripe-event.entity.ts';

/** Where Stripe delivers, on this service's own HTTP server (the gateway does not proxy it). */
export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

export interface StripeEventsOptions {
  database: Database;
  stripe: Stripe | undefined;
  downstream: Downstream;
  webhookSecret: string;
  maxBodyBytes: number;
  /** How long one process holds an event it applies before another may take it over. */
  leaseMs: number;
  /** How often, and how far apart, a failed application is attempted again before the event is given up as dead. */
  retry: { maxAttempts: number; backoff: BackoffPolicy };
  logger: Logger;
  clock: () => number;
}

/** What one pass over the recorded events did. */
export interface PendingPass {
  processed: number;
  failed: number;
  /** Of the failed ones, those whose last allowed attempt it was. */
  dead: number;
}

/** A process() outcome: applied, failed and retried later, failed for the last time, or not taken (held or not due). */
type Outcome = 'processed' | 'failed' | 'dead' | 'skipped';

/** The most an event's id or type may be: the length of their columns. */
const MAX_EVENT_FIELD_LENGTH = 255;

const isShortText = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_EVENT_FIELD_LENGTH && !value.includes('\0');

/** Whether a verified delivery has what recording it needs: an object with a short id and type. */
function isEventShaped(event: unknown): event is Stripe.Event {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
  const { id, type } = event as { id?: unknown; type?: unknown };
  return isShortText(id) && isShortText(type);
}

/**
 * Stripe's webhook deliveries, applied exactly once in effect. A delivery is verified with the SDK on the raw body and
 * recorded under its event id (a replay, concurrent or not, finds the row and records nothing), then applied: the
 * payment or refund updated here, the invoice marked paid in invoice-gen, the entries posted to ledger-mgr. Each of
 * those steps is idempotent (a state set once here, invoice-gen's once-per-payment recording, the ledger's idempotency
 * keys), so an event applied again after a crash midway (its lease expired, or the service restarted) completes what
 * was left and repeats nothing. The event is marked processed only once every step succeeded; until then the periodic
 * pass retries it, each attempt after an exponentially longer wait (so a dependency that keeps failing, Stripe itself
 * included, is not called on every pass), and after `retry.maxAttempts` failed attempts the event is dead: logged at
 * error and never retried.
 */
export class StripeEvents {
  constructor(private readonly options: StripeEventsOptions) {}

  /** `POST /webhooks/stripe`. */
  route(): RouteHandler {
    return async (req, res, url) => {
      if (url.pathname !== STRIPE_WEBHOOK_PATH) return false;
      if (req.method !== 'POST') throw new HttpError(405, ErrorCode.BadRequest, 'Webhooks accept POST only', { allow: 'POST' });
      const body = await readBody(req, this.options.maxBodyBytes);
      const signature = req.headers['stripe-signature'];
      sendJson(res, 200, await this.receive(body, Array.isArray(signature) ? signature[0] : signature));
      return true;
    };
  }

  /** Verifies and records a delivery, then applies it; a failure to apply leaves it recorded for the retries. */
  async receive(body: Buffer, signature: string | undefined): Promise<{ received: true; duplicate: boolean }> {
    if (!signature) throw new HttpError(400, ErrorCode.BadRequest, 'Missing Stripe-Signature header');
    let event: Stripe.Event;
    try {
      // Within the SDK's default tolerance (300 s) of its own clock: an older signature is a replay.
      event = Stripe.webhooks.constructEvent(body, signature, this.options.webhookSecret);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'refused a Stripe webhook delivery whose signature does not verify');
      throw new HttpError(400, ErrorCode.BadRequest, 'The Stripe-Signature does not verify');
    }
    // Signed is not well formed: a body without an event's id and type would fail to be recorded, and answered 500 be
    // delivered again for days. Stripe's own ids and types are short ASCII; this is the column's room with a margin.
    if (!isEventShaped(event)) throw new HttpError(400, ErrorCode.BadUserInput, 'The delivery is not a Stripe event (an id and a type)');
    const recorded = await this.record(event);
    if (recorded) await this.attempt(event.id);
    return { received: true, duplicate: !recorded };
  }

  /**
   * Applies a recorded event unless it is processed or dead, another process holds it, or its next attempt is not due.
   * Returns whether it is processed now; a failure is logged and recorded on the event, which a later pass retries.
   */
  async process(id: string): Promise<boolean> {
    return (await this.attempt(id)) === 'processed';
  }

  private async attempt(id: string): Promise<Outcome> {
    const em = systemFork(this.options.database);
    const now = new Date(this.options.clock());
    const claimed = await em.nativeUpdate(
      StripeEvent,
      {
        id,
        processedAt: null,
        deadAt: null,
        $and: [
          { $or: [{ leasedUntil: null }, { leasedUntil: { $lt: now } }] },
          { $or: [{ nextAttemptAt: null }, { nextAttemptAt: { $lte: now } }] },
        ],
      },
      { leasedUntil: new Date(now.getTime() + this.options.leaseMs) },
    );
    if (claimed === 0) return 'skipped';
    const event = await em.findOneOrFail(StripeEvent, { id });
    try {
      await this.apply(event.payload as unknown as Stripe.Event);
      event.processedAt = new Date(this.options.clock());
      event.leasedUntil = null;
      event.lastError = null;
      event.nextAttemptAt = null;
      event.attempts += 1;
      await em.flush();
      return 'processed';
    } catch (error) {
      const failedAt = new Date(this.options.clock());
      event.leasedUntil = null;
      event.attempts += 1;
      event.lastError = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
      const next = afterFailedAttempt({
        attempts: event.attempts,
        maxAttempts: this.options.retry.maxAttempts,
        policy: this.options.retry.backoff,
        now: failedAt,
      });
      const context = { err: error, eventId: id, type: event.type, attempts: event.attempts };
      if (next.retry) {
        event.nextAttemptAt = next.at;
        this.options.logger.warn({ ...context, nextAttemptAt: next.at }, 'a Stripe event could not be applied yet; it is retried');
      } else {
        event.nextAttemptAt = null;
        event.deadAt = failedAt;
        this.options.logger.error(context, 'a Stripe event failed its last allowed attempt and is given up: it needs an operator');
      }
      await em.flush();
      return next.retry ? 'failed' : 'dead';
    }
  }

  /**
   * Applies every recorded event not processed yet, not dead, due for its next attempt and not held by a live process:
   * after a restart, or a failure.
   */
  async processPending(): Promise<PendingPass> {
    const now = new Date(this.options.clock());
    const pending = await systemFork(this.options.database).find(
      StripeEvent,
      {
        processedAt: null,
        deadAt: null,
        $and: [
          { $or: [{ leasedUntil: null }, { leasedUntil: { $lt: now } }] },
          { $or: [{ nextAttemptAt: null }, { nextAttemptAt: { $lte: now } }] },
        ],
      },
      { fields: ['id'], orderBy: { receivedAt: 'asc' }, limit: 500 },
    );
    const pass: PendingPass = { processed: 0, failed: 0, dead: 0 };
    for (const { id } of pending) {
      const outcome = await this.attempt(id);
      if (outcome === 'processed') pass.processed += 1;
      else if (outcome !== 'skipped') pass.failed += 1;
      if (outcome === 'dead') pass.dead += 1;
    }
    return pass;
  }

  /** How many recorded events wait to be applied (dead ones excluded): a backlog readiness and tests look at. */
  async pendingCount(): Promise<number> {
    return systemFork(this.options.database).count(StripeEvent, { processedAt: null, deadAt: null });
  }

  /** How many events were given up after their last allowed attempt: each needs an operator. */
  async deadCount(): Promise<number> {
    return systemFork(this.options.database).count(StripeEvent, { deadAt: { $ne: null } });
  }

  private async record(event: Stripe.Event): Promise<boolean> {
    const em = systemFork(this.options.database);
    try {
      em.create(StripeEvent, {
        id: event.id,
        type: event.type,
        payload: event as unknown as Record<string, unknown>,
        receivedAt: new Date(this.options.clock()),
        leasedUntil: null,
        attempts: 0,
        lastError: null,
        processedAt: null,
        nextAttemptAt: null,
        deadAt: null,
      });
      await em.flush();
      return true;
    } catch (error) {
      // The same delivery arriving twice, at once or later: the second finds the first's row.
      if (error instanceof UniqueConstraintViolationException) return false;
      throw error;
    }
  }

  private async apply(event: Stripe.Event): Promise<void> {
    switch (event.type) {
      case 'payment_intent.succeeded':
        return this.paymentSucceeded(event.data.object);
      case 'payment_intent.payment_failed':
        return this.paymentFailed(event.data.object);
      case 'refund.created':
      case 'refund.updated':
        return this.refundChanged(event.data.object);
      case 'charge.refunded': {
        const stripe = requireStripe(this.options.stripe);
        const refunds = await stripe.refunds.list({ charge: event.data.object.id, limit: 100 }).catch((error: unknown) => {
          throw stripeFailure(error);
        });
        for (const refund of refunds.data) await this.refundChanged(refund);
        return;
      }
      default:
        return;
    }
  }

  /** The payment succeeded: its fee read from the charge's balance transaction, the invoice paid, the ledger posted. */
  private async paymentSucceeded(intent: Stripe.PaymentIntent): Promise<void> {
    const owner = ownerOf(intent.metadata, 'paymentId');
    if (!owner) return this.ignore('a PaymentIntent this service did not create succeeded', intent.id);
    const em = systemFork(this.options.database);
    const known = await em.findOne(Payment, { id: owner.objectId, tenantId: owner.tenantId });
    if (!known) return this.ignore('a PaymentIntent of an unknown payment succeeded', intent.id);
    const balanceTransaction =
      known.status === 'SUCCEEDED' && known.stripeBalanceTransactionId ? null : await this.balanceTransactionOf(intent);
    // Under the row's lock: whoever applies it first sets the dates every later application posts.
    const payment = await em.transactional(async (tx) => {
      const row = await tx.findOneOrFail(Payment, { id: known.id }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (balanceTransaction && (row.status !== 'SUCCEEDED' || row.stripeBalanceTransactionId === null)) {
        row.status = 'SUCCEEDED';
        // Another payment may hold the invoice by now (this one failed, let go of it, and succeeded after all): then this
        // one is given back below, and must not take the invoice's unique hold from it.
        const holder = await tx.findOne(Payment, { activeInvoiceId: row.invoiceId, id: { $ne: row.id } });
        row.activeInvoiceId = holder ? null : row.invoiceId;
        row.stripePaymentIntentId = intent.id;
        row.stripeBalanceTransactionId = balanceTransaction.id;
        row.feeMinor = feeInPaymentCurrency(row, balanceTransaction);
        row.failureMessage = null;
        row.declineCode = null;
        row.succeededAt ??= new Date(this.options.clock());
      }
      return row;
    });
    const identity = serviceIdentityOf(payment.tenantId);
    const paidAt = payment.succeededAt!.toISOString();
    const recorded = await this.options.downstream.recordInvoicePayment(identity, {
      invoiceId: payment.invoiceId,
      paymentId: payment.id,
      amountMinor: payment.amountMinor,
      currency: payment.currency,
      paidAt,
    });
    // The money arrived all the same, and the ledger takes it. For an invoice voided while Stripe was taking its payment,
    // or paid meanwhile by another, nothing is owed any more: the payment is given back below.
    const unowed =
      recorded.__typename === 'InvoiceNotPayable' && (recorded.invoiceStatus === 'VOID' || recorded.reason === 'ALREADY_PAID')
        ? recorded
        : null;
    if (recorded.__typename === 'InvoiceNotPayable') {
      const log = unowed ? this.options.logger.warn.bind(this.options.logger) : this.options.logger.error.bind(this.options.logger);
      log(
        { paymentId: payment.id, invoiceId: payment.invoiceId, reason: recorded.reason, invoiceStatus: recorded.invoiceStatus },
        unowed ? 'a payment arrived for an invoice no longer owed; it is given back' : 'invoice-gen would not record a settled payment',
      );
    }
    if (unowed) {
      await this.giveBack(
        payment,
        unowed.invoiceStatus === 'VOID'
          ? 'The invoice was voided while it was being paid'
          : 'The invoice was paid by another payment while this one was being taken',
      );
    }
    const base = { currency: payment.currency, occurredAt: paidAt };
    await this.post(identity, {
      ...base,
      idempotencyKey: ledgerKeys.payment(intent.id),
      source: 'PAYMENT',
      sourceId: intent.id,
      description: `Payment of invoice ${payment.invoiceId}`,
      lines: [
        { account: 'CASH', debitMinor: payment.amountMinor, creditMinor: 0 },
        { account: 'ACCOUNTS_RECEIVABLE', debitMinor: 0, creditMinor: payment.amountMinor },
      ],
    });
    if (payment.feeMinor && payment.feeMinor > 0) {
      await this.post(identity, {
        ...base,
        idempotencyKey: ledgerKeys.fee(payment.stripeBalanceTransactionId!),
        source: 'FEE',
        sourceId: payment.stripeBalanceTransactionId!,
        description: `Stripe fee on the payment of invoice ${payment.invoiceId}`,
        lines: [
          { account: 'PROCESSING_FEES', debitMinor: payment.feeMinor, creditMinor: 0 },
          { account: 'CASH', debitMinor: 0, creditMinor: payment.feeMinor },
        ],
      });
    }
  }

  /**
   * Refunds what is left of a payment of an invoice no longer owed. The refund is recorded once under the payment's lock
   * (an event applied again finds it) and sent under its own key; while Stripe cannot be reached it waits for the pass
   * over unsent refunds, as any refund does. Stripe's refund events settle and post it.
   */
  private async giveBack(payment: Payment, reason: string): Promise<void> {
    const stripe = requireStripe(this.options.stripe);
    const em = systemFork(this.options.database);
    const refund = await em.transactional(async (tx) => {
      const row = await tx.findOneOrFail(Payment, { id: payment.id }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      const given = await tx.find(Refund, { paymentId: row.id, status: { $ne: 'FAILED' } });
      const earlier = given.find((each) => each.kind === 'UNOWED');
      if (earlier) return earlier;
      const left = row.amountMinor - given.reduce((sum, each) => sum + each.amountMinor, 0);
      if (left <= 0) return null;
      return tx.create(Refund, {
        id: randomUUID(),
        tenantId: row.tenantId,
        createdBy: BILLING_SERVICE_USER_ID,
        paymentId: row.id,
        kind: 'UNOWED',
        status: 'PENDING',
        amountMinor: left,
        currency: row.currency,
        reason,
        stripeRefundId: null,
        failureMessage: null,
        succeededAt: null,
      });
    });
    if (!refund || refund.stripeRefundId || refund.status !== 'PENDING') return;
    await sendRefund(em, stripe, refund, payment.stripePaymentIntentId!, this.options.logger);
  }

  private async balanceTransactionOf(intent: Stripe.PaymentIntent): Promise<Stripe.BalanceTransaction> {
    const stripe = requireStripe(this.options.stripe);
    const chargeId = typeof intent.latest_charge === 'string' ? intent.latest_charge : intent.latest_charge?.id;
    if (!chargeId) throw new Error(`PaymentIntent ${intent.id} succeeded without a charge`);
    try {
      const charge = await stripe.charges.retrieve(chargeId, { expand: ['balance_transaction'] });
      const balanceTransaction = charge.balance_transaction;
      if (!balanceTransaction || typeof balanceTransaction === 'string') {
        throw new Error(`charge ${chargeId} has no balance transaction yet`);
      }
      return balanceTransaction;
    } catch (error) {
      throw stripeFailure(error);
    }
  }

  /** A payment that failed after it was asked for (an asynchronous decline) lets go of its invoice. */
  private async paymentFailed(intent: Stripe.PaymentIntent): Promise<void> {
    const owner = ownerOf(intent.metadata, 'paymentId');
    if (!owner) return;
    const em = systemFork(this.options.database);
    const payment = await em.findOne(Payment, { id: owner.objectId, tenantId: owner.tenantId });
    if (!payment || payment.status !== 'PROCESSING') return;
    payment.status = 'FAILED';
    payment.activeInvoiceId = null;
    payment.stripePaymentIntentId ??= intent.id;
    payment.declineCode = intent.last_payment_error?.decline_code ?? null;
    payment.failureMessage = (intent.last_payment_error?.message ?? 'The payment failed').slice(0, 500);
    await em.flush();
  }

  /**
   * A refund Stripe settled: recorded on the payment, and posted to the ledger (debit REFUNDS, or ACCOUNTS_RECEIVABLE for
   * money no longer owed, and credit CASH).
   */
  private async refundChanged(stripeRefund: Stripe.Refund): Promise<void> {
    const owner = ownerOf(stripeRefund.metadata, 'refundId');
    if (!owner) return this.ignore('a refund this service did not ask for changed', stripeRefund.id);
    const em = systemFork(this.options.database);
    const settled = await em.transactional(async (tx) => {
      // Under the row's lock: `refund.created` and `charge.refunded` arrive together, and the first sets its date.
      const refund = await tx.findOne(
        Refund,
        { id: owner.objectId, tenantId: owner.tenantId },
        { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
      );
      if (!refund) return null;
      refund.stripeRefundId ??= stripeRefund.id;
      if (stripeRefund.status === 'failed' || stripeRefund.status === 'canceled') {
        if (refund.status === 'PENDING') {
          refund.status = 'FAILED';
          refund.failureMessage = `Stripe reports the refund ${stripeRefund.status}`;
        }
        return null;
      }
      if (stripeRefund.status !== 'succeeded') return null;
      if (refund.status !== 'SUCCEEDED') {
        refund.status = 'SUCCEEDED';
        refund.succeededAt ??= new Date(this.options.clock());
        const payment = await tx.findOneOrFail(Payment, { id: refund.paymentId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
        const succeeded = await tx.find(Refund, { paymentId: payment.id, status: 'SUCCEEDED', id: { $ne: refund.id } });
        payment.refundedMinor = succeeded.reduce((sum, each) => sum + each.amountMinor, refund.amountMinor);
      }
      return refund;
    });
    if (!settled) return;
    await this.post(serviceIdentityOf(settled.tenantId), {
      idempotencyKey: ledgerKeys.refund(stripeRefund.id),
      source: 'REFUND',
      sourceId: stripeRefund.id,
      description: `Refund of payment ${settled.paymentId}`,
      occurredAt: settled.succeededAt!.toISOString(),
      currency: settled.currency,
      lines: [
        // Money no longer owed goes back against the receivable its payment credited; a requested refund is an expense.
        { account: settled.kind === 'UNOWED' ? 'ACCOUNTS_RECEIVABLE' : 'REFUNDS', debitMinor: settled.amountMinor, creditMinor: 0 },
        { account: 'CASH', debitMinor: 0, creditMinor: settled.amountMinor },
      ],
    });
  }

  private async post(identity: Identity, entry: JournalEntryToPost): Promise<void> {
    const result = await this.options.downstream.postJournalEntry(identity, entry);
    if (result.__typename !== 'PostedJournalEntry') {
      throw new Error(`ledger-mgr refused the entry ${entry.idempotencyKey}: ${result.__typename}`);
    }
  }

  private ignore(message: string, stripeId: string): void {
    this.options.logger.info({ stripeId }, message);
  }
}

/** The tenant and our object a Stripe object belongs to, from the metadata this service gave it. */
function ownerOf(metadata: Stripe.Metadata | null | undefined, key: string): { tenantId: string; objectId: string } | undefined {
  const tenantId = metadata?.tenantId;
  const objectId = metadata?.[key];
  return tenantId && objectId ? { tenantId, objectId } : undefined;
}

/**
 * Stripe's fee in the payment's own minor units. Stripe takes it in the account's settlement currency; when that is not
 * the payment's (a ¥10,000 payment to a USD account: 6,700 cents, a 224-cent fee), it is converted at the rate Stripe
 * converted the payment at (¥334), so that each currency's books stay whole: the ledger has no exchange accounts.
 */
function feeInPaymentCurrency(payment: Payment, balanceTransaction: Stripe.BalanceTransaction): number {
  const charged = toStripeAmount(payment.currency, payment.amountMinor)!;
  const fee =
    balanceTransaction.currency.toUpperCase() === payment.currency
      ? balanceTransaction.fee
      : (balanceTransaction.fee * charged) / balanceTransaction.amount;
  return fromStripeAmount(payment.currency, Math.round(fee));
}
