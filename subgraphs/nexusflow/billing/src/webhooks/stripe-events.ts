import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  ErrorCode,
  HttpError,
  readBody,
  recordEvent,
  sendJson,
  systemFork,
  type Database,
  type EntityManager,
  type Logger,
  type RouteHandler,
  type WorkQueue,
} from '@nexusflow/kit';
import Stripe from 'stripe';
import type { BillingService } from '../domain/billing-service.ts';
import { lockTenantBilling, SUBSCRIPTION_CHANGED } from '../domain/billing-service.ts';
import type { PlanCatalogue } from '../domain/plans.ts';
import { stripeFailure } from '../domain/stripe-client.ts';
import { customerIdOf } from '../domain/stripe-objects.ts';
import { BillingCustomer } from '../entities/billing-customer.entity.ts';
import { BillingSubscription, SubscriptionStatus } from '../entities/billing-subscription.entity.ts';
import { StripeEvent } from '../entities/stripe-event.entity.ts';

/** Where Stripe delivers, on this service's own HTTP server (the gateway does not proxy it). */
export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

/** The queue verified deliveries wait on between their receipt and their processing. */
export const STRIPE_EVENT_QUEUE = 'billing.stripe-events';

/** Published when a tenant's payment failed, for the notifications service to warn its billing contact. */
export const PAYMENT_PAST_DUE = 'billing.payment.past_due';

export interface StripeEventMessage {
  /** Stripe's event id, the StripeEvent row's key. */
  id: string;
}

export interface StripeWebhooksOptions {
  database: Database;
  queue: WorkQueue<StripeEventMessage>;
  billing: BillingService;
  catalogue: PlanCatalogue;
  /** Unset: events are applied as they carry their objects. */
  stripe: Stripe | undefined;
  /** Unset: no delivery can be verified, and every one is refused with 503. */
  webhookSecret: string | undefined;
  maxBodyBytes: number;
  pastDueGraceMs: number;
  /** Called after a flush that recorded events, so the outbox relay publishes them now. */
  eventsRecorded: () => void;
  logger: Logger;
  now: () => number;
}

/**
 * Stripe's webhook deliveries: verified with the SDK on the raw body, recorded once per event id (a replay is answered
 * as received and records nothing), answered once recorded, and applied to the tenant's subscription by the queue's
 * consumer, which claims each event once.
 */
export class StripeWebhooks {
  constructor(private readonly options: StripeWebhooksOptions) {}

  /** `POST /webhooks/stripe`. */
  route(): RouteHandler {
    return async (req, res, url) => {
      if (url.pathname !== STRIPE_WEBHOOK_PATH) return false;
      if (req.method !== 'POST') throw new HttpError(405, ErrorCode.BadRequest, 'Webhooks accept POST only', { allow: 'POST' });
      const body = await readBody(req, this.options.maxBodyBytes);
      const signature = req.headers['stripe-signature'];
      const answer = await this.receive(body, Array.isArray(signature) ? signature[0] : signature);
      sendJson(res, 200, answer);
      return true;
    };
  }

  async receive(body: Buffer, signature: string | undefined): Promise<{ received: true; duplicate: boolean }> {
    const secret = this.options.webhookSecret;
    if (!secret) throw new HttpError(503, ErrorCode.ServiceUnavailable, 'Deliveries cannot be verified: STRIPE_WEBHOOK_SECRET is not set');
    if (!signature) throw new HttpError(400, ErrorCode.BadRequest, 'Missing Stripe-Signature header');
    let event: Stripe.Event;
    try {
      // Within the SDK's default tolerance (300 s) of its own clock: an older signature is a replay.
      event = Stripe.webhooks.constructEvent(body, signature, secret);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'refused a Stripe webhook delivery whose signature does not verify');
      throw new HttpError(400, ErrorCode.BadRequest, 'The Stripe-Signature does not verify');
    }
    const recorded = await this.record(event);
    if (recorded) await this.enqueue([event.id]);
    return { received: true, duplicate: !recorded };
  }

  /**
   * Applies a recorded event once, however often it is handed out. Stripe sends events in no particular order, so a
   * subscription's state is read from Stripe when the event is processed, under the row's lock, rather than taken from
   * the event: an event processed after another (an older one, or one a second consumer took) reads Stripe after the
   * other's changes were committed, and cannot roll the subscription back.
   */
  async process({ id }: StripeEventMessage): Promise<void> {
    const pending = await systemFork(this.options.database).findOne(StripeEvent, { id, processedAt: null });
    if (!pending) return;
    const event = pending.payload as unknown as Stripe.Event;
    const recordedEvents = await systemFork(this.options.database).transactional(async (em) => {
      const claimed = await em.nativeUpdate(StripeEvent, { id, processedAt: null }, { processedAt: new Date(this.options.now()) });
      if (claimed === 0) return false;
      return this.apply(em, event);
    });
    if (recordedEvents) this.options.eventsRecorded();
  }

  /** Queues again what was recorded and not yet processed: after a restart, or when the broker is back. */
  async resendPending(): Promise<number> {
    const pending = await systemFork(this.options.database).find(StripeEvent, { processedAt: null }, { fields: ['id'], limit: 1000 });
    await this.enqueue(pending.map((event) => event.id));
    return pending.length;
  }

  private async record(event: Stripe.Event): Promise<boolean> {
    try {
      const em = systemFork(this.options.database);
      if (await em.findOne(StripeEvent, { id: event.id })) return false;
      em.create(StripeEvent, {
        id: event.id,
        type: event.type,
        payload: event as unknown as Record<string, unknown>,
        receivedAt: new Date(this.options.now()),
        processedAt: null,
      });
      await em.flush();
      return true;
    } catch (error) {
      // The same delivery arriving twice at once: the second to commit finds the first's row.
      if (error instanceof UniqueConstraintViolationException) return false;
      throw error;
    }
  }

  /** Queued without waiting for a broker that is away: the event is recorded, and {@link resendPending} queues it later. */
  private async enqueue(ids: readonly string[]): Promise<void> {
    try {
      await Promise.all(ids.map((id) => this.options.queue.enqueue({ id }, { waitForReconnection: false })));
    } catch (error) {
      this.options.logger.warn({ err: error, count: ids.length }, 'Stripe events recorded but not queued; queued when the broker is back');
    }
  }

  /** Returns whether it recorded events for the outbox. */
  private async apply(em: EntityManager, event: Stripe.Event): Promise<boolean> {
    switch (event.type) {
      case 'setup_intent.succeeded':
        return this.filePaymentMethod(em, event.data.object);
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.deleted':
      case 'customer.subscription.paused':
      case 'customer.subscription.resumed':
        // Without an API key, as the event carried it.
        return this.syncSubscription(em, event.data.object.id, event.data.object, null);
      case 'invoice.payment_failed':
      case 'invoice.paid': {
        const invoice = event.data.object;
        const parent = invoice.parent?.subscription_details?.subscription;
        const subscriptionId = typeof parent === 'string' ? parent : parent?.id;
        if (subscriptionId && this.options.stripe) {
          return this.syncSubscription(em, subscriptionId, undefined, invoice.hosted_invoice_url ?? null);
        }
        return this.invoiceSettled(em, invoice, event.type === 'invoice.paid');
      }
      default:
        return false;
    }
  }

  private async filePaymentMethod(em: EntityManager, intent: Stripe.SetupIntent): Promise<boolean> {
    const customerId = customerIdOf(intent.customer);
    const paymentMethod = typeof intent.payment_method === 'string' ? intent.payment_method : (intent.payment_method?.id ?? null);
    if (!customerId || !paymentMethod) return false;
    const customer = await em.findOne(BillingCustomer, { stripeCustomerId: customerId });
    if (!customer) {
      this.options.logger.warn({ customerId }, 'a SetupIntent of a customer this service does not know succeeded');
      return false;
    }
    // Serialised with subscribing: a subscription made meanwhile with the old card is found here and moved to the new one.
    await lockTenantBilling(em, customer.tenantId);
    customer.defaultPaymentMethodId = paymentMethod;
    const stripe = this.options.stripe;
    if (stripe) {
      // What Stripe charges from now on: the customer's default for invoices, and the one the live subscription pinned.
      await this.callStripe(() =>
        stripe.customers.update(
          customerId,
          { invoice_settings: { default_payment_method: paymentMethod } },
          { idempotencyKey: `default-payment-method-${intent.id}` },
        ),
      );
      const live = await em.findOne(BillingSubscription, {
        tenantId: customer.tenantId,
        stripeSubscriptionId: { $ne: null },
        status: { $ne: SubscriptionStatus.Canceled },
      });
      if (live?.stripeSubscriptionId) {
        const subscriptionId = live.stripeSubscriptionId;
        await this.callStripe(() =>
          stripe.subscriptions.update(
            subscriptionId,
            { default_payment_method: paymentMethod },
            { idempotencyKey: `subscription-payment-method-${subscriptionId}-${intent.id}` },
          ),
        );
      }
    }
    await em.flush();
    return false;
  }

  /**
   * The row of subscription `subscriptionId` as Stripe has it now, read once the row is locked (two events of one
   * subscription processed at once then each see the other's outcome); without an API key, as `carried` says.
   */
  private async syncSubscription(
    em: EntityManager,
    subscriptionId: string,
    carried: Stripe.Subscription | undefined,
    invoiceUrl: string | null,
  ): Promise<boolean> {
    const subscription = await em.findOne(
      BillingSubscription,
      { stripeSubscriptionId: subscriptionId },
      { lockMode: LockMode.PESSIMISTIC_WRITE },
    );
    // A subscription made outside this service, or one a change here replaced since: nothing of ours to update.
    if (!subscription) return false;
    const stripe = this.options.stripe;
    const answer = stripe ? await this.callStripe(() => stripe.subscriptions.retrieve(subscriptionId)) : carried;
    if (!answer) return false;
    const before = { status: subscription.status, planTier: subscription.planTier };
    this.options.billing.mirror(subscription, answer);
    const priceId = answer.items.data[0]?.price.id;
    const plan = priceId ? await this.options.catalogue.findByPrice(em, priceId) : null;
    if (plan) subscription.planTier = plan.tier;
    return this.saveTransition(em, subscription, before, invoiceUrl);
  }

  private async callStripe<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      // Rejected, the event's message is delivered again.
      throw stripeFailure(error);
    }
  }

  private async invoiceSettled(em: EntityManager, invoice: Stripe.Invoice, paid: boolean): Promise<boolean> {
    const customerId = customerIdOf(invoice.customer);
    if (!customerId) return false;
    const customer = await em.findOne(BillingCustomer, { stripeCustomerId: customerId });
    if (!customer) return false;
    const subscription = await em.findOne(
      BillingSubscription,
      { tenantId: customer.tenantId, stripeSubscriptionId: { $ne: null } },
      { lockMode: LockMode.PESSIMISTIC_WRITE },
    );
    if (!subscription || subscription.status === SubscriptionStatus.Canceled) return false;
    const before = { status: subscription.status, planTier: subscription.planTier };
    if (paid && subscription.status === SubscriptionStatus.PastDue) subscription.status = SubscriptionStatus.Active;
    if (!paid) subscription.status = SubscriptionStatus.PastDue;
    return this.saveTransition(em, subscription, before, invoice.hosted_invoice_url ?? null);
  }

  /**
   * Records what changed: the subscription's new state, and on its way into PAST_DUE the warning of its billing
   * contact and the start of its grace period; a payment failing again while past due (Stripe's retries) warns no one
   * again. A plan change or cancellation may have copied PAST_DUE from Stripe before this event arrived: the grace
   * period starts with the first event that finds none started.
   */
  private async saveTransition(
    em: EntityManager,
    subscription: BillingSubscription,
    before: { status: string; planTier: string },
    invoiceUrl: string | null,
  ): Promise<boolean> {
    const now = new Date(this.options.now());
    let recorded = false;
    if (subscription.status === SubscriptionStatus.PastDue && !subscription.pastDueSince) {
      subscription.pastDueSince = now;
      recordEvent(
        em,
        {
          type: PAYMENT_PAST_DUE,
          tenantId: subscription.tenantId,
          payload: {
            tenantId: subscription.tenantId,
            userId: subscription.billingContactId,
            plan: subscription.planTier,
            graceEndsAt: new Date(now.getTime() + this.options.pastDueGraceMs).toISOString(),
            invoiceUrl,
          },
        },
        now,
      );
      recorded = true;
    }
    if (subscription.status !== SubscriptionStatus.PastDue) subscription.pastDueSince = null;
    if (subscription.status !== before.status || subscription.planTier !== before.planTier) {
      recordEvent(
        em,
        {
          type: SUBSCRIPTION_CHANGED,
          tenantId: subscription.tenantId,
          payload: { tenantId: subscription.tenantId, plan: subscription.planTier, status: subscription.status },
        },
        now,
      );
      recorded = true;
    }
    await em.flush();
    return recorded;
  }
}
