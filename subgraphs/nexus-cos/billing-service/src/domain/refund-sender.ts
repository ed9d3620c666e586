import { systemFork, type Database, type EntityManager, type Logger } from '@nexusflow/kit';
import { Payment } from '../entities/payment.entity.ts';
import { Refund } from '../entities/refund.entity.ts';
import { toStripeAmount } from './stripe-amounts.ts';
import { isStripeOutage, Stripe } from './stripe-client.ts';

/** SENT: Stripe has it (settled by its webhook). REFUSED: Stripe would not, and it failed. UNREACHABLE: it waits. */
export type RefundSendOutcome = 'SENT' | 'REFUSED' | 'UNREACHABLE';

/** How many unsent refunds one pass sends at most; the next pass sends the rest. */
const UNSENT_REFUNDS_PER_PASS = 100;

/**
 * One try and one retry of 10 s each: a refund asked for through the graph is answered, PENDING when Stripe does not
 * answer, well within the gateway's 30 s for a subgraph. Answered a timeout instead, its asker could not tell that it
 * was kept, and asking again would give back twice.
 */
const REFUND_REQUEST_OPTIONS = { timeout: 10_000, maxNetworkRetries: 1 } as const;

/**
 * Sends a recorded refund to Stripe under its own idempotency key, so that sending it again (the pass over unsent
 * refunds, after an outage or a lost answer) gives the money back once. A refund Stripe refuses fails, since sending it
 * again would be refused again; one Stripe could not be reached for stays PENDING for that pass. What it records is
 * written only while the refund is still unsent: a webhook may have settled it meanwhile.
 */
export async function sendRefund(
  em: EntityManager,
  stripe: Stripe,
  refund: Refund,
  paymentIntentId: string,
  logger: Logger,
): Promise<RefundSendOutcome> {
  const unsent = { id: refund.id, status: 'PENDING', stripeRefundId: null } as const;
  try {
    const stripeRefund = await stripe.refunds.create(
      {
        payment_intent: paymentIntentId,
        amount: toStripeAmount(refund.currency, refund.amountMinor)!,
        metadata: { tenantId: refund.tenantId, refundId: refund.id, paymentId: refund.paymentId },
      },
      { idempotencyKey: `refund:${refund.id}`, ...REFUND_REQUEST_OPTIONS },
    );
    const failed = stripeRefund.status === 'failed' || stripeRefund.status === 'canceled';
    await em.nativeUpdate(Refund, { id: refund.id, stripeRefundId: null }, { stripeRefundId: stripeRefund.id });
    if (failed) await em.nativeUpdate(Refund, { id: refund.id, status: 'PENDING' }, { status: 'FAILED' });
    refund.stripeRefundId ??= stripeRefund.id;
    if (failed && refund.status === 'PENDING') refund.status = 'FAILED';
    return 'SENT';
  } catch (error) {
    if (error instanceof Stripe.errors.StripeInvalidRequestError) {
      // Stripe refused it (more than is left on its side, a disputed charge): nothing was given back.
      const failureMessage = error.message.slice(0, 500);
      if ((await em.nativeUpdate(Refund, unsent, { status: 'FAILED', failureMessage })) > 0) {
        Object.assign(refund, { status: 'FAILED', failureMessage });
      }
      // A give-back of money no longer owed that Stripe refuses leaves a customer charged: an operator must act.
      if (refund.kind === 'UNOWED')
        logger.error({ err: error, refundId: refund.id }, 'Stripe refused to give back a payment no longer owed');
      else logger.warn({ err: error, refundId: refund.id }, 'Stripe refused a refund');
      return 'REFUSED';
    }
    if (!isStripeOutage(error)) throw error;
    logger.warn({ err: error, refundId: refund.id }, 'Stripe could not be reached for a refund; it is sent again later');
    return 'UNREACHABLE';
  }
}

/**
 * Sends the refunds recorded while Stripe could not be reached, of every tenant, oldest first. Only those recorded more
 * than `minAgeMs` ago: a younger one may still be on its way. A refund that fails in a way the pass cannot judge is
 * logged and passed over, so that it holds up no other; while Stripe is out of reach the rest waits for the next pass.
 */
export async function sendUnsentRefunds(options: {
  database: Database;
  stripe: Stripe | undefined;
  logger: Logger;
  now: Date;
  minAgeMs: number;
}): Promise<{ sent: number; refused: number; waiting: number; failed: number }> {
  const counts = { sent: 0, refused: 0, waiting: 0, failed: 0 };
  if (!options.stripe) return counts;
  const em = systemFork(options.database);
  const unsent = await em.find(
    Refund,
    { status: 'PENDING', stripeRefundId: null, createdAt: { $lte: new Date(options.now.getTime() - options.minAgeMs) } },
    { orderBy: { createdAt: 'asc', id: 'asc' }, limit: UNSENT_REFUNDS_PER_PASS },
  );
  const payments = new Map(
    (await em.find(Payment, { id: { $in: unsent.map((refund) => refund.paymentId) } })).map((payment) => [payment.id, payment]),
  );
  for (const [index, refund] of unsent.entries()) {
    let outcome: RefundSendOutcome;
    try {
      outcome = await sendRefund(em, options.stripe, refund, payments.get(refund.paymentId)!.stripePaymentIntentId!, options.logger);
    } catch (error) {
      options.logger.error({ err: error, refundId: refund.id }, 'an unsent refund could not be sent; the next pass tries again');
      counts.failed += 1;
      continue;
    }
    if (outcome === 'SENT') counts.sent += 1;
    else if (outcome === 'REFUSED') counts.refused += 1;
    else {
      counts.waiting = unsent.length - index;
      break;
    }
  }
  return counts;
}
