import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { clientError, ErrorCode, recordEvent, requireRole, requireUser, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import type Stripe from 'stripe';
import { BillingCustomer } from '../entities/billing-customer.entity.ts';
import { BillingSubscription, SubscriptionStatus } from '../entities/billing-subscription.entity.ts';
import type { Plan } from '../entities/plan.entity.ts';
import { UsageCounter } from '../entities/usage-counter.entity.ts';
import { FREE_LIMITS, limitsOf, type Limits, type PlanCatalogue } from './plans.ts';
import { requireStripe, stripeFailure } from './stripe-client.ts';
import { periodOf, subscriptionStatusOf } from './stripe-objects.ts';
import { monthOf } from './usage.ts';

/** A subscription in these has no paid plan's limits: it ended, or its first payment never went through. */
const UNPAID_STATUSES = new Set<string>([SubscriptionStatus.Canceled, SubscriptionStatus.Incomplete]);

/** Published whenever a tenant's plan or status changes, e.g. for caches of its limits. */
export const SUBSCRIPTION_CHANGED = 'billing.subscription.changed';

const BILLING_ROLES = [Role.Owner, Role.Admin];
const MAX_INVOICES = 100;

/**
 * Holds, until `tx` ends, the tenant's billing lock: taken by every change of its plan and by the filing of a new card,
 * each around its calls to Stripe, so that one of them at a time reads the subscription and acts on it. (On the
 * embedded database, whose one session runs one transaction at a time, the lock is granted at once, and the
 * transaction alone serialises.)
 */
export async function lockTenantBilling(tx: EntityManager, tenantId: string): Promise<void> {
  await tx
    .getConnection()
    .execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`billing:${tenantId}`], 'all', tx.getTransactionContext());
}

type Changed = { __typename: 'SubscriptionChanged'; subscription: BillingSubscription };
type NoSubscription = { __typename: 'NoSubscription'; message: string };
/** What subscribing can come to: the tenant's plan changed, or why not. */
export type SubscribeResult =
  | Changed
  | { __typename: 'PlanNotFound'; message: string; planId: string }
  | { __typename: 'PaymentMethodRequired'; message: string }
  | { __typename: 'AlreadyOnPlan'; message: string; plan: Plan };
export type ChangeResult = SubscribeResult | NoSubscription;
export type CancelResult = Changed | NoSubscription;

const planNotFound = (planId: string): SubscribeResult => ({
  __typename: 'PlanNotFound',
  message: `No plan has the id "${planId}"`,
  planId,
});
const noSubscription = (): NoSubscription => ({
  __typename: 'NoSubscription',
  message: 'The tenant has no subscription; subscribe to a plan first',
});
const paymentMethodRequired = (): SubscribeResult => ({
  __typename: 'PaymentMethodRequired',
  message: 'A paid plan needs a payment method: add one with addPaymentMethod first',
});
const changed = (subscription: BillingSubscription): Changed => ({ __typename: 'SubscriptionChanged', subscription });

export interface InvoiceView {
  id: string;
  number: string | null;
  status: 'DRAFT' | 'OPEN' | 'PAID' | 'UNCOLLECTIBLE' | 'VOID';
  amountDueCents: number;
  amountPaidCents: number;
  currency: string;
  hostedInvoiceUrl: string | null;
  pdfUrl: string | null;
  createdAt: Date;
}

export interface UsageView {
  periodStart: Date;
  periodEnd: Date;
  meters: { metric: 'EXECUTIONS' | 'AI_TOKENS'; used: number; limit: number | null; exceeded: boolean }[];
}

export interface BillingServiceOptions {
  catalogue: PlanCatalogue;
  stripe: Stripe | undefined;
  pastDueGraceMs: number;
  /** Called after a flush that recorded events, so the outbox relay publishes them now. */
  eventsRecorded: () => void;
  now: () => number;
}

/**
 * A tenant's plan and payments. Paid plans live in Stripe, and the row here mirrors them: written from Stripe's answer
 * to each change made here, and kept in sync by its webhooks (see webhooks/stripe-events.ts) for changes made there.
 */
export class BillingService {
  constructor(private readonly options: BillingServiceOptions) {}

  /** Whether paid plans can be had here: the deployment has a Stripe account. */
  get payments(): boolean {
    return this.options.stripe !== undefined;
  }

  /** Whether the grace period of an overdue payment has run out. */
  isLimited(subscription: BillingSubscription): boolean {
    const since = subscription.pastDueSince;
    return subscription.status === SubscriptionStatus.PastDue && since !== null && since !== undefined
      ? this.options.now() >= since.getTime() + this.options.pastDueGraceMs
      : false;
  }

  /**
   * The limits in force: the plan's, or the free plan's without a subscription, once it ended, before its first payment
   * (incomplete), or while limited.
   */
  async effectiveLimits(em: EntityManager, subscription: BillingSubscription | null): Promise<Limits> {
    if (!subscription || UNPAID_STATUSES.has(subscription.status) || this.isLimited(subscription)) return FREE_LIMITS;
    const plan = await this.options.catalogue.find(em, subscription.planTier);
    return plan ? limitsOf(plan) : FREE_LIMITS;
  }

  current(em: EntityManager): Promise<BillingSubscription | null> {
    return em.findOne(BillingSubscription, {});
  }

  async subscribe(em: EntityManager, identity: Identity, planId: string): Promise<SubscribeResult> {
    const user = requireRole(identity, BILLING_ROLES);
    const plan = await this.options.catalogue.find(em, planId);
    if (!plan) return planNotFound(planId);
    // Two admins subscribing at once: the second finds the first's subscription, and changes its plan or is told it is on it.
    return this.serialised(em, user.tenantId, async (tx) => {
      const existing = await this.current(tx);
      if (existing && existing.status !== SubscriptionStatus.Canceled) return this.moveTo(tx, user.userId, existing, plan);
      if (plan.tier === 'FREE') return changed(await this.saveFree(tx, user.tenantId, user.userId, existing));
      return this.startPaid(tx, user.tenantId, user.userId, plan, existing);
    });
  }

  async changePlan(em: EntityManager, identity: Identity, planId: string): Promise<ChangeResult> {
    const user = requireRole(identity, BILLING_ROLES);
    const plan = await this.options.catalogue.find(em, planId);
    if (!plan) return planNotFound(planId);
    return this.serialised(em, user.tenantId, async (tx) => {
      const existing = await this.current(tx);
      if (!existing || existing.status === SubscriptionStatus.Canceled) return noSubscription();
      return this.moveTo(tx, user.userId, existing, plan);
    });
  }

  async cancel(em: EntityManager, identity: Identity, atPeriodEnd: boolean): Promise<CancelResult> {
    const user = requireRole(identity, BILLING_ROLES);
    return this.serialised(em, user.tenantId, async (tx) => {
      const subscription = await this.current(tx);
      if (!subscription || subscription.status === SubscriptionStatus.Canceled) return noSubscription();
      const now = new Date(this.options.now());
      if (!subscription.stripeSubscriptionId) {
        Object.assign(subscription, { status: SubscriptionStatus.Canceled, canceledAt: now });
      } else {
        const stripe = requireStripe(this.options.stripe);
        // The row's version in the key: a cancellation taken back by a plan change and asked again is a new request,
        // which Stripe would otherwise answer for a day with the first one's replay, changing nothing.
        const version = subscription.updatedAt.getTime();
        const key = `cancel-${subscription.stripeSubscriptionId}-${atPeriodEnd ? 'at-period-end' : 'now'}-${version}`;
        const answer = await this.callStripe(() =>
          atPeriodEnd
            ? stripe.subscriptions.update(subscription.stripeSubscriptionId!, { cancel_at_period_end: true }, { idempotencyKey: key })
            : stripe.subscriptions.cancel(subscription.stripeSubscriptionId!, { prorate: true }, { idempotencyKey: key }),
        );
        this.mirror(subscription, answer);
        subscription.canceledAt ??= now;
      }
      await this.saveChanged(tx, subscription);
      return changed(subscription);
    });
  }

  /** A SetupIntent for the tenant's customer: Stripe.js confirms it, and Stripe's webhook files the card. */
  async addPaymentMethod(em: EntityManager, identity: Identity): Promise<{ setupIntentId: string; clientSecret: string }> {
    const user = requireRole(identity, BILLING_ROLES);
    const stripe = requireStripe(this.options.stripe);
    const customer = await this.customerOf(em, user.tenantId);
    const intent = await this.callStripe(() =>
      stripe.setupIntents.create({
        customer: customer.stripeCustomerId,
        usage: 'off_session',
        metadata: { tenantId: user.tenantId },
      }),
    );
    if (!intent.client_secret) throw new Error(`Stripe returned SetupIntent ${intent.id} without a client secret`);
    return { setupIntentId: intent.id, clientSecret: intent.client_secret };
  }

  async invoices(em: EntityManager, identity: Identity, first: number): Promise<InvoiceView[]> {
    requireRole(identity, BILLING_ROLES);
    const limit = Math.min(Math.max(first, 0), MAX_INVOICES);
    const customer = await em.findOne(BillingCustomer, {});
    if (limit === 0 || !customer) return [];
    const stripe = requireStripe(this.options.stripe);
    const page = await this.callStripe(() => stripe.invoices.list({ customer: customer.stripeCustomerId, limit }));
    return page.data.map((invoice) => ({
      id: invoice.id,
      number: invoice.number,
      status: (invoice.status ?? 'draft').toUpperCase() as InvoiceView['status'],
      amountDueCents: invoice.amount_due,
      amountPaidCents: invoice.amount_paid,
      currency: invoice.currency,
      hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
      pdfUrl: invoice.invoice_pdf ?? null,
      createdAt: new Date(invoice.created * 1000),
    }));
  }

  async usage(em: EntityManager, identity: Identity): Promise<UsageView> {
    requireUser(identity);
    const { start, end } = monthOf(this.options.now());
    const [subscription, counter] = await Promise.all([this.current(em), em.findOne(UsageCounter, { periodStart: start })]);
    const limits = await this.effectiveLimits(em, subscription);
    const meter = (metric: 'EXECUTIONS' | 'AI_TOKENS', used: number, limit: number | null) => ({
      metric,
      used,
      limit,
      exceeded: limit !== null && used >= limit,
    });
    return {
      periodStart: start,
      periodEnd: end,
      meters: [
        meter('EXECUTIONS', counter?.executions ?? 0, limits.executionsPerMonth),
        meter('AI_TOKENS', counter?.aiTokens ?? 0, limits.aiTokensPerMonth),
      ],
    };
  }

  /** What the workflows service checks before a run: this month's executions against the limit in force. */
  async executionQuota(em: EntityManager, identity: Identity): Promise<{ used: number; limit: number | null }> {
    const { meters } = await this.usage(em, identity);
    const executions = meters.find((meter) => meter.metric === 'EXECUTIONS')!;
    return { used: executions.used, limit: executions.limit };
  }

  /** What the auth and integrations services check before adding a member or an integration. */
  async planLimits(em: EntityManager, identity: Identity): Promise<Limits> {
    requireUser(identity);
    return this.effectiveLimits(em, await this.current(em));
  }

  /** From the tenant's current plan to `plan`: Stripe prorates a change between paid plans. */
  private async moveTo(em: EntityManager, userId: string, subscription: BillingSubscription, plan: Plan): Promise<SubscribeResult> {
    if (subscription.planTier === plan.tier) {
      return { __typename: 'AlreadyOnPlan', message: `The tenant is on the ${plan.name} plan already`, plan };
    }
    if (!subscription.stripeSubscriptionId) return this.startPaid(em, subscription.tenantId, userId, plan, subscription);
    const stripe = requireStripe(this.options.stripe);
    const stripeSubscriptionId = subscription.stripeSubscriptionId;
    const version = subscription.updatedAt.getTime();
    if (plan.tier === 'FREE') {
      // Back to the free plan: the paid subscription ends now, and Stripe credits what is left of the period.
      await this.callStripe(() =>
        stripe.subscriptions.cancel(
          stripeSubscriptionId,
          { prorate: true },
          { idempotencyKey: `downgrade-${stripeSubscriptionId}-${version}` },
        ),
      );
      return changed(await this.saveFree(em, subscription.tenantId, userId, subscription));
    }
    const priceId = this.priceOf(plan);
    const answer = await this.callStripe(() =>
      stripe.subscriptions.update(
        stripeSubscriptionId,
        {
          items: [{ id: subscription.stripeItemId ?? undefined, price: priceId }],
          proration_behavior: 'create_prorations',
          cancel_at_period_end: false,
          metadata: { tenantId: subscription.tenantId, plan: plan.tier },
        },
        { idempotencyKey: `change-${stripeSubscriptionId}-${plan.tier}-${version}` },
      ),
    );
    this.mirror(subscription, answer);
    Object.assign(subscription, { planTier: plan.tier, billingContactId: userId, canceledAt: null });
    await this.saveChanged(em, subscription);
    return changed(subscription);
  }

  /** A new Stripe subscription, charged to the payment method the tenant filed. */
  private async startPaid(
    em: EntityManager,
    tenantId: string,
    userId: string,
    plan: Plan,
    existing: BillingSubscription | null,
  ): Promise<SubscribeResult> {
    const stripe = requireStripe(this.options.stripe);
    const priceId = this.priceOf(plan);
    // Read, not made: a tenant without a customer has filed no card, and addPaymentMethod makes the customer.
    const customer = await em.findOne(BillingCustomer, {});
    if (!customer?.defaultPaymentMethodId) return paymentMethodRequired();
    const paymentMethod = customer.defaultPaymentMethodId;
    // The same request sent again (a retry after a lost answer) creates no second subscription.
    const key = `subscribe-${tenantId}-${plan.tier}-${existing?.updatedAt.getTime() ?? 0}`;
    const answer = await this.callStripe(() =>
      stripe.subscriptions.create(
        {
          customer: customer.stripeCustomerId,
          items: [{ price: priceId }],
          default_payment_method: paymentMethod,
          // A first payment declined (or awaiting the customer's authentication) fails the request: Stripe's default
          // would make an incomplete subscription, a plan the tenant has not paid for.
          payment_behavior: 'error_if_incomplete',
          metadata: { tenantId, plan: plan.tier },
        },
        { idempotencyKey: key },
      ),
    );
    const subscription =
      existing ??
      em.create(BillingSubscription, {
        tenantId,
        planTier: plan.tier,
        status: SubscriptionStatus.Incomplete,
        billingContactId: userId,
      });
    this.mirror(subscription, answer);
    Object.assign(subscription, { planTier: plan.tier, billingContactId: userId, canceledAt: null });
    await this.saveChanged(em, subscription);
    return changed(subscription);
  }

  private async saveFree(
    em: EntityManager,
    tenantId: string,
    userId: string,
    existing: BillingSubscription | null,
  ): Promise<BillingSubscription> {
    const fields = {
      planTier: 'FREE',
      status: SubscriptionStatus.Active,
      stripeSubscriptionId: null,
      stripeItemId: null,
      currentPeriodStart: null,
      currentPeriodEnd: null,
      cancelAtPeriodEnd: false,
      canceledAt: null,
      pastDueSince: null,
      billingContactId: userId,
    };
    const subscription = existing ? Object.assign(existing, fields) : em.create(BillingSubscription, { tenantId, ...fields });
    await this.saveChanged(em, subscription);
    return subscription;
  }

  /** The row as Stripe's subscription says it is now. */
  mirror(subscription: BillingSubscription, answer: Stripe.Subscription): void {
    const item = answer.items.data[0];
    const period = periodOf(answer);
    const status = subscriptionStatusOf(answer.status);
    Object.assign(subscription, {
      stripeSubscriptionId: answer.id,
      stripeItemId: item?.id ?? subscription.stripeItemId ?? null,
      status,
      currentPeriodStart: period.start,
      currentPeriodEnd: period.end,
      cancelAtPeriodEnd: answer.cancel_at_period_end,
      canceledAt: answer.canceled_at ? new Date(answer.canceled_at * 1000) : (subscription.canceledAt ?? null),
    });
    if (status !== SubscriptionStatus.PastDue) subscription.pastDueSince = null;
  }

  private async saveChanged(em: EntityManager, subscription: BillingSubscription): Promise<void> {
    recordEvent(
      em,
      {
        type: SUBSCRIPTION_CHANGED,
        tenantId: subscription.tenantId,
        payload: { tenantId: subscription.tenantId, plan: subscription.planTier, status: subscription.status },
      },
      new Date(this.options.now()),
    );
    await em.flush();
  }

  /**
   * `change` in a transaction holding the tenant's billing lock, Stripe's answer and the row it is mirrored to
   * included; the outbox relay is told once the events it recorded are committed.
   */
  private async serialised<T>(em: EntityManager, tenantId: string, change: (tx: EntityManager) => Promise<T>): Promise<T> {
    const result = await em.transactional(async (tx) => {
      await lockTenantBilling(tx, tenantId);
      return change(tx);
    });
    this.options.eventsRecorded();
    return result;
  }

  private priceOf(plan: Plan): string {
    if (!plan.stripePriceId) {
      throw clientError(ErrorCode.ServiceUnavailable, `The ${plan.name} plan has no price on this deployment (STRIPE_PRICE_${plan.tier})`);
    }
    return plan.stripePriceId;
  }

  /** The tenant's Stripe customer, made once: the idempotency key makes a retried or concurrent creation return the same one. */
  private async customerOf(em: EntityManager, tenantId: string): Promise<BillingCustomer> {
    const found = await em.findOne(BillingCustomer, {});
    if (found) return found;
    const stripe = requireStripe(this.options.stripe);
    const created = await this.callStripe(() =>
      stripe.customers.create(
        { metadata: { tenantId }, description: `NexusFlow tenant ${tenantId}` },
        { idempotencyKey: `customer-${tenantId}` },
      ),
    );
    const customer = em.create(BillingCustomer, { tenantId, stripeCustomerId: created.id, defaultPaymentMethodId: null });
    try {
      await em.flush();
      return customer;
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      // A concurrent request stored the same customer (same idempotency key) first.
      em.clear();
      return (await em.findOne(BillingCustomer, {}))!;
    }
  }

  private async callStripe<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw stripeFailure(error);
    }
  }
}
