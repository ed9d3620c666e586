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
 * Sends a recorded refund to Stripe under its own idempotency key, so that sending it again (the pass over unsent
 * refunds, after an outage or a lost answer) gives the money back once. A refund Stripe refuses fails, since sending it
 * again would be refused again; one Stripe could not be reached for stays PENDING for that pass.
 */
export async function sendRefund(
  em: EntityManager,
  stripe: Stripe,
  refund: Refund,
  paymentIntentId: string,
  logger: Logger,
): Promise<RefundSendOutcome> {
  try {
    const stripeRefund = await stripe.refunds.create(
      {
        payment_intent: paymentIntentId,
        amount: toStripeAmount(refund.currency, refund.amountMinor)!,
        metadata: { tenantId: refund.tenantId, refundId: refund.id, paymentId: refund.paymentId },
      },
      { idempotencyKey: `refund:${refund.id}` },
    );
    refund.stripeRefundId ??= stripeRefund.id;
    if ((stripeRefund.status === 'failed' || stripeRefund.status === 'canceled') && refund.status === 'PENDING') refund.status = 'FAILED';
    await em.flush();
    return 'SENT';
  } catch (error) {
    if (error instanceof Stripe.errors.StripeInvalidRequestError) {
      // Stripe refused it (more than is left on its side, a disputed charge): nothing was given back.
      refund.status = 'FAILED';
      refund.failureMessage = error.message.slice(0, 500);
      await em.flush();
      logger.warn({ err: error, refundId: refund.id }, 'Stripe refused a refund');
      return 'REFUSED';
    }
    if (!isStripeOutage(error)) throw error;
    logger.warn({ err: error, refundId: refund.id }, 'Stripe could not be reached for a refund; it is sent again later');
    return 'UNREACHABLE';
  }
}

/**
 * Sends the refunds recorded while Stripe could not be reached, of every tenant, oldest first. Only those recorded more
 * than `minAgeMs` ago: a younger one may still be on its way, with the SDK's own retries.
 */
export async function sendUnsentRefunds(options: {
  database: Database;
  stripe: Stripe | undefined;
  logger: Logger;
  now: Date;
  minAgeMs: number;
}): Promise<{ sent: number; refused: number; waiting: number }> {
  const counts = { sent: 0, refused: 0, waiting: 0 };
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
  for (const refund of unsent) {
    const outcome = await sendRefund(em, options.stripe, refund, payments.get(refund.paymentId)!.stripePaymentIntentId!, options.logger);
    if (outcome === 'SENT') counts.sent += 1;
    else if (outcome === 'REFUSED') counts.refused += 1;
    else {
      // Stripe is still out of reach: the rest waits for the next pass.
      counts.waiting = unsent.length - counts.sent - counts.refused;
      break;
    }
  }
  return counts;
}
