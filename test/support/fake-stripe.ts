import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type StripeObject = Record<string, any>;

const DAY_SECONDS = 24 * 60 * 60;
const PERIOD_SECONDS = 30 * DAY_SECONDS;

/** Stripe's ids: a prefix and 24 random characters, e.g. `cus_Q2x…`. */
const stripeId = (prefix: string) => `${prefix}_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x').slice(0, 24)}`;

/** An error as Stripe sends it: `{ error: { type, code?, message, param? } }` with the status of its kind. */
class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: {
      type: string;
      message: string;
      code?: string;
      param?: string;
      decline_code?: string;
      payment_intent?: StripeObject;
      charge?: string;
    },
  ) {
    super(body.message);
  }
}

const missing = (kind: string, id: string, param = 'id') =>
  new StripeApiError(404, { type: 'invalid_request_error', code: 'resource_missing', param, message: `No such ${kind}: '${id}'` });

const invalid = (message: string, param?: string) =>
  new StripeApiError(400, { type: 'invalid_request_error', code: 'parameter_missing', message, ...(param ? { param } : {}) });

/**
 * Stripe's form encoding as the SDK writes it (`items[0][price]=…&metadata[tenantId]=…`) back into objects and
 * arrays: keys are paths of brackets, numeric segments index arrays.
 */
export function parseStripeForm(form: URLSearchParams): StripeObject {
  const root: StripeObject = {};
  for (const [key, value] of form) {
    const path = key.replace(/\]/g, '').split('[');
    let node: any = root;
    path.forEach((segment, index) => {
      const last = index === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[index + 1]!);
      const slot = /^\d+$/.test(segment) ? Number(segment) : segment;
      if (last) node[slot] = value;
      else node = node[slot] ??= nextIsIndex ? [] : {};
    });
  }
  return root;
}

/** One webhook delivery the fake made: what it sent, and how the endpoint answered. */
export interface WebhookDelivery {
  event: StripeObject;
  payload: string;
  signature: string;
  status: number;
  answer: string;
}

export interface FakeStripeOptions {
  /** The secret key the SDK must send; others are refused with 401 as Stripe refuses them. */
  secretKey: string;
  /** Signs webhook deliveries, as the endpoint's signing secret in Stripe's dashboard does. */
  webhookSecret: string;
  /** The prices the account has, by id, with their monthly amount in cents. */
  prices: Record<string, { unitAmount: number; currency?: string; product?: string }>;
  /** The fake's clock, in seconds since the epoch. @default the real clock */
  now?: () => number;
  /** What Stripe keeps of a card payment of `amount` minor units. @default 2.9% + 30, rounded */
  feeFor?: (amount: number) => number;
}

/** The smallest charge Stripe takes, in minor units, as its docs list them (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts); 50 for the rest. */
const MINIMUM_CHARGE: Readonly<Record<string, number>> = { usd: 50, eur: 50, gbp: 30, chf: 50, jpy: 50, cad: 50, aud: 50 };

/**
 * ISK has no minor unit, yet Stripe's API still counts it in hundredths, and refuses an amount of fractional króna
 * (https://docs.stripe.com/currencies#special-cases).
 */
function wholeUnitsOnly(currency: string, amount: number): void {
  if (currency === 'isk' && amount % 100 !== 0) {
    throw new StripeApiError(400, {
      type: 'invalid_request_error',
      code: 'invalid_charge_amount_no_decimal_compatible',
      param: 'amount',
      message: 'Invalid amount. Currency ISK has become effectively zero-decimal and charged amounts must be evenly divisible by 100.',
    });
  }
}

/**
 * Stripe's test PaymentMethods that fail, with the decline code each gives, as in Stripe's testing docs
 * (https://docs.stripe.com/testing#declined-payments); any other `pm_…` is charged.
 */
export const DECLINING_PAYMENT_METHODS: Readonly<Record<string, { declineCode: string; message: string }>> = {
  pm_card_chargeDeclined: { declineCode: 'generic_decline', message: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: { declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  pm_card_chargeDeclinedExpiredCard: { declineCode: 'expired_card', message: 'Your card has expired.' },
};

/**
 * A stand-in of the Stripe API at its HTTP boundary, for the official SDK to run against unchanged (its `host`, `port`
 * and `protocol` options point it here): form-encoded requests, Stripe's JSON objects, lists and error shapes, the
 * `Idempotency-Key` honoured as Stripe honours it (for 24 hours the first answer replayed for the same request, a different
 * request with a used key refused), customers, setup intents, subscriptions with prorations on a price change,
 * invoices, billing meter events, payment intents confirmed at creation (charges with their balance transactions and
 * fees, Stripe's test cards that decline), refunds, and webhook deliveries signed with the real `Stripe-Signature` scheme
 * (`t=<time>,v1=<hex HMAC-SHA256 of "<time>.<payload>">`) to the endpoint the test sets.
 */
export class FakeStripe {
  private server: Server | undefined;
  origin = '';
  /** Where webhook deliveries go, e.g. the billing service's `/webhooks/stripe`. */
  webhookUrl: string | undefined;
  readonly customers = new Map<string, StripeObject>();
  readonly setupIntents = new Map<string, StripeObject>();
  readonly paymentMethods = new Map<string, StripeObject>();
  /** Payment methods filed with a card that declines every charge. */
  private readonly decliningCards = new Map<string, { declineCode: string; message: string }>();
  readonly subscriptions = new Map<string, StripeObject>();
  readonly invoices = new Map<string, StripeObject>();
  /** Pending invoice items, prorations among them, billed on the customer's next invoice. */
  readonly invoiceItems = new Map<string, StripeObject>();
  readonly meterEvents = new Map<string, StripeObject>();
  readonly paymentIntents = new Map<string, StripeObject>();
  readonly paymentCharges = new Map<string, StripeObject>();
  readonly balanceTransactions = new Map<string, StripeObject>();
  readonly refunds = new Map<string, StripeObject>();
  readonly events: StripeObject[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  /** Every API request, in order, for tests that look at what the SDK sent. */
  readonly requests: { method: string; path: string; params: StripeObject; idempotencyKey: string | undefined }[] = [];
  /** Every payment of an invoice, and the card it was taken from, as the dashboard's payments list shows them. */
  readonly charges: { invoice: string; paymentMethod: string | null; amount: number }[] = [];
  private readonly idempotent = new Map<string, { fingerprint: string; status: number; body: unknown; at: number }>();
  private readonly pendingDeliveries = new Set<Promise<void>>();
  private readonly now: () => number;
  /** Requests to each path whose answer is lost on the way back: done, but the client never hears of it. */
  private readonly answersToLose = new Map<string, number>();
  /**
   * The currency the account settles in, when it is not the charge's: Stripe converts each charge (its balance
   * transaction's amount and fee are in that currency) at `rate`, in Stripe's units of it per unit of the charge's.
   */
  settlement: { currency: string; rate: number } | undefined;
  /** Requests to each path answered with a 500 `api_error` without being carried out: Stripe having an outage. */
  private readonly requestsToFail = new Map<string, number>();
  /** The next request to each path whose answer is held back, as a slow network holds it, until the test releases it. */
  private readonly answersToHold = new Map<string, { arrived: () => void; released: Promise<void> }>();

  constructor(private readonly options: FakeStripeOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** The SDK's settings for the service: STRIPE_API_BASE_URL and the keys. */
  get environment(): Record<string, string> {
    return {
      STRIPE_SECRET_KEY: this.options.secretKey,
      STRIPE_WEBHOOK_SECRET: this.options.webhookSecret,
      STRIPE_API_BASE_URL: this.origin,
    };
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    await this.settled();
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  /** Resolves once every webhook delivery started so far was answered. */
  async settled(): Promise<void> {
    while (this.pendingDeliveries.size > 0) await Promise.all([...this.pendingDeliveries]);
  }

  /**
   * The card the customer entered in Stripe.js, confirmed: the SetupIntent succeeds, and Stripe tells the endpoint. A
   * card ending 0002 (Stripe's test card 4000 0000 0000 0002) is filed, and declined when charged.
   */
  async confirmSetupIntent(id: string, card = '4242'): Promise<StripeObject> {
    const intent = this.setupIntents.get(id);
    if (!intent) throw new Error(`no SetupIntent ${id}`);
    const method = {
      id: stripeId('pm'),
      object: 'payment_method',
      type: 'card',
      card: { brand: 'visa', last4: card },
      customer: intent.customer,
    };
    this.paymentMethods.set(method.id, method);
    if (card === '0002') this.decliningCards.set(method.id, DECLINING_PAYMENT_METHODS.pm_card_chargeDeclined!);
    Object.assign(intent, { status: 'succeeded', payment_method: method.id });
    await this.emit('setup_intent.succeeded', intent);
    return intent;
  }

  /**
   * The renewal of a subscription whose card is declined: an open invoice, the subscription past due, and Stripe's
   * `invoice.payment_failed` and `customer.subscription.updated` sent to the endpoint.
   */
  async failRenewal(subscriptionId: string): Promise<StripeObject> {
    const subscription = this.subscriptions.get(subscriptionId);
    if (!subscription) throw new Error(`no subscription ${subscriptionId}`);
    const invoice = this.invoice(subscription, 'open');
    invoice.attempt_count = 1;
    subscription.status = 'past_due';
    await this.emit('invoice.payment_failed', invoice);
    await this.emit('customer.subscription.updated', subscription);
    return invoice;
  }

  /**
   * The renewal of a subscription whose card works: a paid invoice, charged as Stripe charges it, to the subscription's
   * `default_payment_method`, else the customer's `invoice_settings.default_payment_method`.
   */
  async renew(subscriptionId: string): Promise<StripeObject> {
    const subscription = this.subscriptions.get(subscriptionId);
    if (!subscription) throw new Error(`no subscription ${subscriptionId}`);
    const invoice = this.invoice(subscription, 'paid');
    await this.emit('invoice.paid', invoice);
    return invoice;
  }

  /** The card works again: the open invoice is paid, the subscription active. */
  async payOpenInvoice(subscriptionId: string): Promise<void> {
    const subscription = this.subscriptions.get(subscriptionId)!;
    const invoice = [...this.invoices.values()].find(
      (each) => each.status === 'open' && this.subscriptionOfInvoice(each) === subscriptionId,
    );
    if (!invoice) throw new Error(`no open invoice of ${subscriptionId}`);
    Object.assign(invoice, { status: 'paid', amount_paid: invoice.amount_due, amount_remaining: 0 });
    subscription.status = 'active';
    await this.emit('invoice.paid', invoice);
    await this.emit('customer.subscription.updated', subscription);
  }

  /**
   * A confirmed PaymentIntent reported failed after all, as a bank's late decline is: `payment_intent.payment_failed`
   * sent with the intent as it was before it succeeded.
   */
  async failAfterwards(paymentIntentId: string): Promise<void> {
    const intent = this.paymentIntents.get(paymentIntentId);
    if (!intent) throw new Error(`no PaymentIntent ${paymentIntentId}`);
    const failure = { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' };
    await this.emit('payment_intent.payment_failed', {
      ...intent,
      status: 'requires_payment_method',
      amount_received: 0,
      last_payment_error: failure,
    });
  }

  /**
   * The next `count` requests to `path` are carried out, and their answers lost: the connection drops before the
   * client reads one, as when the network fails or the caller crashes right after Stripe acted.
   */
  loseAnswers(path: string, count: number): void {
    this.answersToLose.set(path, count);
  }

  /** The next `count` requests to `path` fail with a 500 `api_error` and change nothing, as during an outage of Stripe's. */
  failRequests(path: string, count: number): void {
    this.requestsToFail.set(path, count);
  }

  /**
   * The next request to `path` is carried out and answered as things are when it arrives, and the answer reaches the
   * client only on `release()`: a read that is already stale when it is used. `arrived` resolves once the request came.
   */
  holdAnswer(path: string): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.answersToHold.set(path, { arrived, released });
    return { arrived: arrival, release };
  }

  /** Sends a delivery of an event again, signed anew, as Stripe's retries and its dashboard's "Resend" do. */
  async redeliver(eventId: string): Promise<WebhookDelivery> {
    const event = this.events.find((each) => each.id === eventId);
    if (!event) throw new Error(`no event ${eventId}`);
    return this.deliver(event);
  }

  /** Sends `payload` with a signature of the caller's choosing: a forger's delivery. */
  async deliverRaw(payload: string, signature: string): Promise<{ status: number; answer: string }> {
    const response = await fetch(this.webhookUrl!, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature },
      body: payload,
    });
    return { status: response.status, answer: await response.text() };
  }

  /**
   * The `Stripe-Signature` header Stripe sends with `payload` at `timestamp`, under `secret`. Deliveries are signed at
   * the real time they are sent, whatever the fake's clock says of its objects: receivers check it against their own.
   */
  sign(payload: string, timestamp = Math.floor(Date.now() / 1000), secret = this.options.webhookSecret): string {
    const v1 = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
    return `t=${timestamp},v1=${v1}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', this.origin);
    const method = req.method ?? 'GET';
    const form = new URLSearchParams(method === 'GET' || method === 'DELETE' ? url.search : Buffer.concat(chunks).toString('utf8'));
    const params = parseStripeForm(form);
    const idempotencyKey = header(req, 'idempotency-key');
    this.requests.push({ method, path: url.pathname, params, idempotencyKey });
    const requestId = stripeId('req');
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      // A replayed answer is lost as readily as the first.
      const toLose = this.answersToLose.get(url.pathname) ?? 0;
      if (toLose > 0) {
        this.answersToLose.set(url.pathname, toLose - 1);
        res.destroy();
        return;
      }
      const answer = JSON.stringify(body, null, 2);
      const write = () => {
        res.writeHead(status, {
          'content-type': 'application/json',
          'request-id': requestId,
          'stripe-version': header(req, 'stripe-version') ?? '',
          ...extra,
        });
        res.end(answer);
      };
      const hold = this.answersToHold.get(url.pathname);
      if (!hold) {
        write();
        return;
      }
      this.answersToHold.delete(url.pathname);
      hold.arrived();
      void hold.released.then(write);
    };
    if (header(req, 'authorization') !== `Bearer ${this.options.secretKey}`) {
      send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided: sk_****' } });
      return;
    }
    const toFail = this.requestsToFail.get(url.pathname) ?? 0;
    if (toFail > 0) {
      this.requestsToFail.set(url.pathname, toFail - 1);
      send(500, { error: { type: 'api_error', message: 'An unknown error occurred' } });
      return;
    }
    // Stripe keeps the first answer to a key for 24 hours and replays it; the same key with other parameters is refused.
    const fingerprint = `${method} ${url.pathname} ${form.toString()}`;
    const kept = idempotencyKey && method === 'POST' ? this.idempotent.get(idempotencyKey) : undefined;
    const earlier = kept && this.now() - kept.at < DAY_SECONDS ? kept : undefined;
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) {
        send(400, {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          },
        });
      } else send(earlier.status, earlier.body, { 'idempotent-replayed': 'true' });
      return;
    }
    let status = 200;
    let body: unknown;
    const events: [string, StripeObject][] = [];
    try {
      body = this.route(method, url.pathname, params, events);
    } catch (error) {
      // A bug of the fake's own answers as Stripe answers its own: a 500 api_error, which the SDK retries.
      const failure =
        error instanceof StripeApiError
          ? error
          : new StripeApiError(500, { type: 'api_error', message: `The fake failed: ${String(error)}` });
      status = failure.status;
      body = { error: { ...failure.body, request_log_url: `https://dashboard.stripe.com/test/logs/${requestId}` } };
    }
    if (idempotencyKey && method === 'POST' && status < 500) {
      // The answer as it was then, not the object as it is when the key is used again.
      this.idempotent.set(idempotencyKey, { fingerprint, status, body: structuredClone(body), at: this.now() });
    }
    send(status, body, idempotencyKey ? { 'idempotency-key': idempotencyKey } : {});
    // Stripe announces what a request did after answering it.
    for (const [type, object] of events) void this.emit(type, object);
  }

  private route(method: string, path: string, params: StripeObject, events: [string, StripeObject][]): unknown {
    const segments = path.split('/').filter(Boolean);
    if (segments[0] !== 'v1') throw this.unrecognized(method, path);
    const [, resource, id] = segments;
    const key = `${method} ${resource}${id === undefined ? '' : '/:id'}${segments.length > 3 ? `/${segments.slice(3).join('/')}` : ''}`;
    switch (key) {
      case 'POST customers':
        return this.createCustomer(params);
      case 'GET customers/:id':
        return this.found('customer', this.customers, id!);
      case 'POST customers/:id':
        return this.updateCustomer(this.found('customer', this.customers, id!), params);
      case 'POST setup_intents':
        return this.createSetupIntent(params);
      case 'GET setup_intents/:id':
        return this.found('setup_intent', this.setupIntents, id!);
      case 'POST subscriptions':
        return this.createSubscription(params, events);
      case 'GET subscriptions/:id':
        return this.found('subscription', this.subscriptions, id!);
      case 'POST subscriptions/:id':
        return this.updateSubscription(this.found('subscription', this.subscriptions, id!), params, events);
      case 'DELETE subscriptions/:id':
        return this.cancelSubscription(this.found('subscription', this.subscriptions, id!), params, events);
      case 'GET invoices':
        return this.list(
          '/v1/invoices',
          [...this.invoices.values()].filter((invoice) => !params.customer || invoice.customer === params.customer),
          params,
        );
      case 'GET invoices/:id':
        return this.found('invoice', this.invoices, id!);
      case 'GET invoiceitems':
        return this.list(
          '/v1/invoiceitems',
          [...this.invoiceItems.values()].filter((item) => !params.customer || item.customer === params.customer),
          params,
        );
      case 'POST billing/meter_events':
        return this.recordMeterEvent(params);
      case 'POST payment_intents':
        return this.createPaymentIntent(params, events);
      case 'GET payment_intents/:id':
        return this.found('payment_intent', this.paymentIntents, id!);
      case 'GET charges/:id':
        return this.expanded(this.found('charge', this.paymentCharges, id!), params);
      case 'GET balance_transactions/:id':
        return this.found('balance_transaction', this.balanceTransactions, id!);
      case 'POST refunds':
        return this.createRefund(params, events);
      case 'GET refunds/:id':
        return this.found('refund', this.refunds, id!);
      case 'GET refunds':
        return this.list(
          '/v1/refunds',
          [...this.refunds.values()].filter(
            (refund) =>
              (!params.charge || refund.charge === params.charge) &&
              (!params.payment_intent || refund.payment_intent === params.payment_intent),
          ),
          params,
        );
      default:
        if (resource === 'billing' && id === 'meter_events' && method === 'POST') return this.recordMeterEvent(params);
        throw this.unrecognized(method, path);
    }
  }

  /** `expand[]=balance_transaction` replaces the id by the object, as Stripe's expansion does. */
  private expanded(charge: StripeObject, params: StripeObject): StripeObject {
    const expand = (params.expand ?? []) as string[];
    if (!expand.includes('balance_transaction') || typeof charge.balance_transaction !== 'string') return charge;
    return { ...charge, balance_transaction: this.balanceTransactions.get(charge.balance_transaction) };
  }

  /**
   * A PaymentIntent confirmed at creation (`confirm=true`) with a card: charged at once, its charge settled with a
   * balance transaction whose fee Stripe keeps, and `payment_intent.succeeded` and `charge.succeeded` sent; or, with one
   * of {@link DECLINING_PAYMENT_METHODS}, a 402 `card_error` carrying the failed intent, and
   * `payment_intent.payment_failed` sent. Without `confirm` it waits for a payment method, as Stripe's does.
   */
  private createPaymentIntent(params: StripeObject, events: [string, StripeObject][]): StripeObject {
    const amount = Number(params.amount);
    if (!params.amount) throw invalid('Missing required param: amount.', 'amount');
    if (!Number.isInteger(amount) || amount < 1) throw invalid('Invalid integer: amount', 'amount');
    if (!params.currency) throw invalid('Missing required param: currency.', 'currency');
    const currency = String(params.currency).toLowerCase();
    wholeUnitsOnly(currency, amount);
    const minimum = MINIMUM_CHARGE[currency] ?? 50;
    if (amount < minimum) {
      throw new StripeApiError(400, {
        type: 'invalid_request_error',
        code: 'amount_too_small',
        param: 'amount',
        message: `Amount must be at least ${minimum} ${currency} (in the currency's smallest unit)`,
      });
    }
    const id = stripeId('pi');
    const intent: StripeObject = {
      id,
      object: 'payment_intent',
      amount,
      amount_received: 0,
      currency: String(params.currency).toLowerCase(),
      client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
      created: this.now(),
      customer: params.customer ?? null,
      description: params.description ?? null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: params.metadata ?? {},
      payment_method: params.payment_method ?? null,
      payment_method_types: ['card'],
      status: 'requires_payment_method',
    };
    this.paymentIntents.set(id, intent);
    if (params.confirm !== 'true') return intent;
    if (!intent.payment_method) throw invalid('You must provide a payment method to confirm this PaymentIntent.', 'payment_method');
    const declined = this.declineOf(intent.payment_method);
    const charge = this.charge(intent, declined ? 'failed' : 'succeeded');
    intent.latest_charge = charge.id;
    if (declined) {
      intent.last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: declined.declineCode,
        message: declined.message,
      };
      events.push(['payment_intent.payment_failed', intent]);
      throw new StripeApiError(402, {
        type: 'card_error',
        code: 'card_declined',
        decline_code: declined.declineCode,
        message: declined.message,
        charge: charge.id,
        payment_intent: structuredClone(intent),
      });
    }
    Object.assign(intent, { status: 'succeeded', amount_received: amount });
    events.push(['charge.succeeded', charge], ['payment_intent.succeeded', intent]);
    return intent;
  }

  private charge(intent: StripeObject, status: 'succeeded' | 'failed'): StripeObject {
    const id = stripeId('ch');
    const created = this.now();
    let balanceTransaction: string | null = null;
    if (status === 'succeeded') {
      const converted = this.settlement && this.settlement.currency !== intent.currency;
      const amount = converted ? Math.round(intent.amount * this.settlement!.rate) : intent.amount;
      const fee = (this.options.feeFor ?? ((settled: number) => Math.round(settled * 0.029) + 30))(amount);
      balanceTransaction = this.balanceTransaction(amount, fee, converted ? this.settlement!.currency : intent.currency, id, 'charge');
    }
    const charge = {
      id,
      object: 'charge',
      amount: intent.amount,
      amount_captured: status === 'succeeded' ? intent.amount : 0,
      amount_refunded: 0,
      balance_transaction: balanceTransaction,
      captured: status === 'succeeded',
      created,
      currency: intent.currency,
      livemode: false,
      metadata: intent.metadata,
      paid: status === 'succeeded',
      payment_intent: intent.id,
      payment_method: intent.payment_method,
      refunded: false,
      status,
    };
    this.paymentCharges.set(id, charge);
    return charge;
  }

  private balanceTransaction(amount: number, fee: number, currency: string, source: string, type: string): string {
    const id = stripeId('txn');
    this.balanceTransactions.set(id, {
      id,
      object: 'balance_transaction',
      amount,
      currency,
      fee,
      fee_details: fee === 0 ? [] : [{ amount: fee, currency, type: 'stripe_fee', description: 'Stripe processing fees' }],
      net: amount - fee,
      source,
      status: 'available',
      type,
      created: this.now(),
    });
    return id;
  }

  /**
   * A refund of a succeeded charge (named by `charge` or `payment_intent`), of `amount` or of what is left of it:
   * succeeded at once, with a balance transaction of its own, and `refund.created` and `charge.refunded` sent. More than
   * is left is refused as Stripe refuses it.
   */
  private createRefund(params: StripeObject, events: [string, StripeObject][]): StripeObject {
    const intent = params.payment_intent ? this.paymentIntents.get(params.payment_intent) : undefined;
    if (params.payment_intent && !intent) throw missing('payment_intent', params.payment_intent, 'payment_intent');
    const chargeId = params.charge ?? intent?.latest_charge;
    if (!chargeId) throw invalid('One of the following params should be provided for this request: payment_intent or charge.');
    const charge = this.paymentCharges.get(chargeId);
    if (!charge) throw missing('charge', chargeId, 'charge');
    if (charge.status !== 'succeeded') throw invalid(`Charge ${charge.id} has not succeeded and cannot be refunded.`, 'charge');
    const left = charge.amount - charge.amount_refunded;
    const amount = params.amount === undefined ? left : Number(params.amount);
    wholeUnitsOnly(charge.currency, amount);
    if (!Number.isInteger(amount) || amount < 1 || amount > left) {
      throw new StripeApiError(400, {
        type: 'invalid_request_error',
        code: 'amount_too_large',
        param: 'amount',
        message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`,
      });
    }
    const id = stripeId('re');
    const refund = {
      id,
      object: 'refund',
      amount,
      balance_transaction: this.balanceTransaction(-amount, 0, charge.currency, id, 'refund'),
      charge: charge.id,
      created: this.now(),
      currency: charge.currency,
      metadata: params.metadata ?? {},
      payment_intent: charge.payment_intent,
      reason: params.reason ?? null,
      status: 'succeeded',
    };
    this.refunds.set(id, refund);
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded === charge.amount;
    events.push(['refund.created', refund], ['charge.refunded', charge]);
    return refund;
  }

  private unrecognized(method: string, path: string) {
    return new StripeApiError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    });
  }

  private found(kind: string, objects: Map<string, StripeObject>, id: string): StripeObject {
    const object = objects.get(id);
    if (!object) throw missing(kind, id);
    return object;
  }

  /** Stripe's list object, newest first, cut at `limit` (default 10, at most 100). */
  private list(url: string, objects: StripeObject[], params: StripeObject): StripeObject {
    const limit = Math.min(Math.max(Number(params.limit ?? 10), 1), 100);
    const newestFirst = [...objects].reverse();
    return { object: 'list', url, has_more: newestFirst.length > limit, data: newestFirst.slice(0, limit) };
  }

  private customerFields(params: StripeObject): StripeObject {
    return {
      ...(params.email === undefined ? {} : { email: params.email }),
      ...(params.name === undefined ? {} : { name: params.name }),
      ...(params.description === undefined ? {} : { description: params.description }),
      ...(params.metadata === undefined ? {} : { metadata: params.metadata }),
      ...(params.invoice_settings === undefined ? {} : { invoice_settings: params.invoice_settings }),
    };
  }

  /** Hashes such as `invoice_settings` are merged key by key, as Stripe merges them; other fields are replaced. */
  private updateCustomer(customer: StripeObject, params: StripeObject): StripeObject {
    const { invoice_settings: invoiceSettings, ...fields } = this.customerFields(params);
    const paymentMethod = invoiceSettings?.default_payment_method;
    if (paymentMethod) this.attachedPaymentMethod(customer.id, paymentMethod, 'invoice_settings[default_payment_method]');
    Object.assign(customer, fields);
    if (invoiceSettings) customer.invoice_settings = { ...customer.invoice_settings, ...invoiceSettings };
    return customer;
  }

  /** A payment method of the customer's, or Stripe's refusal of one it does not know or that belongs to another. */
  private attachedPaymentMethod(customerId: string, paymentMethodId: string, param: string): StripeObject {
    const method = this.paymentMethods.get(paymentMethodId);
    if (!method) throw missing('PaymentMethod', paymentMethodId, param);
    if (method.customer !== customerId) {
      throw new StripeApiError(400, {
        type: 'invalid_request_error',
        param,
        message: `The customer does not have a payment method with the ID ${paymentMethodId}. The payment method must be attached to the customer.`,
      });
    }
    return method;
  }

  private createCustomer(params: StripeObject): StripeObject {
    const customer = {
      id: stripeId('cus'),
      object: 'customer',
      created: this.now(),
      livemode: false,
      email: null,
      name: null,
      description: null,
      metadata: {},
      invoice_settings: { default_payment_method: null },
      ...this.customerFields(params),
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  private createSetupIntent(params: StripeObject): StripeObject {
    if (params.customer && !this.customers.has(params.customer)) throw missing('customer', params.customer, 'customer');
    const id = stripeId('seti');
    const intent = {
      id,
      object: 'setup_intent',
      client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
      created: this.now(),
      customer: params.customer ?? null,
      livemode: false,
      metadata: params.metadata ?? {},
      payment_method: null,
      payment_method_types: ['card'],
      status: 'requires_payment_method',
      usage: params.usage ?? 'off_session',
    };
    this.setupIntents.set(id, intent);
    return intent;
  }

  private priceObject(priceId: string, param: string): StripeObject {
    const price = this.options.prices[priceId];
    if (!price) throw missing('price', priceId, param);
    return {
      id: priceId,
      object: 'price',
      active: true,
      currency: price.currency ?? 'usd',
      product: price.product ?? `prod_${priceId.slice(6)}`,
      recurring: { interval: 'month', interval_count: 1, usage_type: 'licensed' },
      type: 'recurring',
      unit_amount: price.unitAmount,
    };
  }

  private declineOf(paymentMethod: string): { declineCode: string; message: string } | undefined {
    return DECLINING_PAYMENT_METHODS[paymentMethod] ?? this.decliningCards.get(paymentMethod);
  }

  private createSubscription(params: StripeObject, events: [string, StripeObject][]): StripeObject {
    const customer = params.customer ? this.customers.get(params.customer) : undefined;
    if (!params.customer) throw invalid('Missing required param: customer.', 'customer');
    if (!customer) throw missing('customer', params.customer, 'customer');
    const items = (params.items ?? []) as StripeObject[];
    if (items.length === 0) throw invalid('Missing required param: items.', 'items');
    const paymentMethod = params.default_payment_method ?? customer.invoice_settings?.default_payment_method ?? null;
    if (paymentMethod && !this.paymentMethods.has(paymentMethod)) throw missing('PaymentMethod', paymentMethod, 'default_payment_method');
    const declined = paymentMethod ? this.declineOf(paymentMethod) : undefined;
    // Stripe's default (`allow_incomplete`) makes an incomplete subscription of a declined first payment.
    if (declined && params.payment_behavior === 'error_if_incomplete') {
      throw new StripeApiError(402, {
        type: 'card_error',
        code: 'card_declined',
        decline_code: declined.declineCode,
        message: declined.message,
      });
    }
    const paid = paymentMethod !== null && !declined;
    const start = this.now();
    const id = stripeId('sub');
    const subscription: StripeObject = {
      id,
      object: 'subscription',
      created: start,
      customer: customer.id,
      livemode: false,
      metadata: params.metadata ?? {},
      default_payment_method: paymentMethod,
      cancel_at_period_end: false,
      canceled_at: null,
      ended_at: null,
      // Without a card to charge, or with one declined, the first invoice stays open, and so does the subscription.
      status: paid ? 'active' : 'incomplete',
      items: {
        object: 'list',
        url: `/v1/subscription_items?subscription=${id}`,
        has_more: false,
        data: items.map((item, index) => ({
          id: stripeId('si'),
          object: 'subscription_item',
          created: start,
          subscription: id,
          quantity: Number(item.quantity ?? 1),
          price: this.priceObject(item.price, `items[${index}][price]`),
          current_period_start: start,
          current_period_end: start + PERIOD_SECONDS,
        })),
      },
    };
    this.subscriptions.set(id, subscription);
    const invoice = this.invoice(subscription, paid ? 'paid' : 'open');
    events.push(['customer.subscription.created', subscription], [paid ? 'invoice.paid' : 'invoice.payment_failed', invoice]);
    return subscription;
  }

  /**
   * A price change with `proration_behavior=create_prorations` (Stripe's default) leaves two pending invoice items
   * for the next invoice: a credit for the unused time on the old price and a charge for the rest on the new one.
   */
  private updateSubscription(subscription: StripeObject, params: StripeObject, events: [string, StripeObject][]): StripeObject {
    if (subscription.status === 'canceled') {
      throw new StripeApiError(400, {
        type: 'invalid_request_error',
        message: 'A canceled subscription can only update its cancellation_details and metadata.',
      });
    }
    const previous = structuredClone(subscription);
    for (const [index, change] of ((params.items ?? []) as StripeObject[]).entries()) {
      const item = change.id ? (subscription.items.data as StripeObject[]).find((each) => each.id === change.id) : undefined;
      if (change.id && !item) throw missing('subscription_item', change.id, `items[${index}][id]`);
      if (!item || !change.price || item.price.id === change.price) continue;
      const newPrice = this.priceObject(change.price, `items[${index}][price]`);
      const behavior = params.proration_behavior ?? 'create_prorations';
      if (behavior !== 'none') this.prorate(subscription, item, newPrice);
      item.price = newPrice;
    }
    if (params.cancel_at_period_end !== undefined) {
      subscription.cancel_at_period_end = params.cancel_at_period_end === 'true';
      subscription.canceled_at = subscription.cancel_at_period_end ? this.now() : null;
    }
    if (params.metadata !== undefined) subscription.metadata = { ...subscription.metadata, ...params.metadata };
    if (params.default_payment_method !== undefined) {
      // An empty value unsets it, as Stripe's form encoding of null does.
      const paymentMethod = params.default_payment_method === '' ? null : params.default_payment_method;
      if (paymentMethod) this.attachedPaymentMethod(subscription.customer, paymentMethod, 'default_payment_method');
      subscription.default_payment_method = paymentMethod;
    }
    events.push(['customer.subscription.updated', { ...subscription, previous_attributes: diff(previous, subscription) }]);
    return subscription;
  }

  private prorate(subscription: StripeObject, item: StripeObject, newPrice: StripeObject): void {
    const now = this.now();
    const remaining = Math.max(item.current_period_end - now, 0) / (item.current_period_end - item.current_period_start);
    const pending = (amount: number, description: string, price: StripeObject) => {
      const invoiceItem = {
        id: stripeId('ii'),
        object: 'invoiceitem',
        amount,
        currency: price.currency,
        customer: subscription.customer,
        date: now,
        description,
        invoice: null,
        proration: true,
        subscription: subscription.id,
        pricing: { price_details: { price: price.id } },
        period: { start: now, end: item.current_period_end },
      };
      this.invoiceItems.set(invoiceItem.id, invoiceItem);
    };
    pending(-Math.round(item.price.unit_amount * item.quantity * remaining), `Unused time on ${item.price.id}`, item.price);
    pending(Math.round(newPrice.unit_amount * item.quantity * remaining), `Remaining time on ${newPrice.id}`, newPrice);
  }

  private cancelSubscription(subscription: StripeObject, params: StripeObject, events: [string, StripeObject][]): StripeObject {
    if (subscription.status === 'canceled') throw missing('subscription', subscription.id);
    const now = this.now();
    Object.assign(subscription, { status: 'canceled', canceled_at: now, ended_at: now });
    if (params.prorate === 'true') {
      const item = subscription.items.data[0];
      const remaining = Math.max(item.current_period_end - now, 0) / (item.current_period_end - item.current_period_start);
      const credit = {
        id: stripeId('ii'),
        object: 'invoiceitem',
        amount: -Math.round(item.price.unit_amount * item.quantity * remaining),
        currency: item.price.currency,
        customer: subscription.customer,
        date: now,
        description: `Unused time on ${item.price.id}`,
        invoice: null,
        proration: true,
        subscription: subscription.id,
      };
      this.invoiceItems.set(credit.id, credit);
    }
    events.push(['customer.subscription.deleted', subscription]);
    return subscription;
  }

  /** Meter events are deduplicated by their identifier for a day, as Stripe does; a repeat is accepted and counted once. */
  private recordMeterEvent(params: StripeObject): StripeObject {
    if (!params.event_name) throw invalid('Missing required param: event_name.', 'event_name');
    if (!params.payload?.stripe_customer_id) throw invalid('Missing required param: payload[stripe_customer_id].', 'payload');
    const identifier = params.identifier ?? stripeId('mev');
    const existing = this.meterEvents.get(identifier);
    if (existing) return existing;
    const event = {
      object: 'billing.meter_event',
      created: this.now(),
      event_name: params.event_name,
      identifier,
      livemode: false,
      payload: params.payload,
      timestamp: Number(params.timestamp ?? this.now()),
    };
    this.meterEvents.set(identifier, event);
    return event;
  }

  private subscriptionOfInvoice(invoice: StripeObject): string | undefined {
    return invoice.parent?.subscription_details?.subscription;
  }

  private invoice(subscription: StripeObject, status: 'paid' | 'open'): StripeObject {
    const id = stripeId('in');
    const amount = (subscription.items.data as StripeObject[]).reduce((sum, item) => sum + item.price.unit_amount * item.quantity, 0);
    const invoice = {
      id,
      object: 'invoice',
      created: this.now(),
      customer: subscription.customer,
      currency: subscription.items.data[0].price.currency,
      livemode: false,
      number: `FAKE-${String(this.invoices.size + 1).padStart(4, '0')}`,
      status,
      amount_due: amount,
      amount_paid: status === 'paid' ? amount : 0,
      amount_remaining: status === 'paid' ? 0 : amount,
      attempt_count: status === 'paid' ? 1 : 0,
      hosted_invoice_url: `${this.origin}/invoices/${id}`,
      invoice_pdf: `${this.origin}/invoices/${id}/pdf`,
      parent: { type: 'subscription_details', subscription_details: { subscription: subscription.id, metadata: subscription.metadata } },
      period_start: subscription.items.data[0].current_period_start,
      period_end: subscription.items.data[0].current_period_end,
    };
    this.invoices.set(id, invoice);
    if (status === 'paid') {
      const customer = this.customers.get(subscription.customer);
      const paymentMethod = subscription.default_payment_method ?? customer?.invoice_settings?.default_payment_method ?? null;
      this.charges.push({ invoice: id, paymentMethod, amount });
    }
    return invoice;
  }

  /** An event of what changed, delivered to the webhook endpoint (when one is set); resolves once it answered. */
  private async emit(type: string, object: StripeObject): Promise<void> {
    const { previous_attributes: previousAttributes, ...data } = object;
    const event = {
      id: stripeId('evt'),
      object: 'event',
      api_version: '2026-10-28.endive',
      created: this.now(),
      livemode: false,
      pending_webhooks: this.webhookUrl ? 1 : 0,
      request: { id: null, idempotency_key: null },
      type,
      data: { object: structuredClone(data), ...(previousAttributes ? { previous_attributes: previousAttributes } : {}) },
    };
    this.events.push(event);
    if (this.webhookUrl) await this.deliver(event);
  }

  private deliver(event: StripeObject): Promise<WebhookDelivery> {
    const payload = JSON.stringify(event, null, 2);
    const signature = this.sign(payload);
    const delivery = (async () => {
      const { status, answer } = await this.deliverRaw(payload, signature);
      const record = { event, payload, signature, status, answer };
      this.deliveries.push(record);
      return record;
    })();
    const tracked = delivery.then(
      () => undefined,
      () => undefined,
    );
    this.pendingDeliveries.add(tracked);
    void tracked.finally(() => this.pendingDeliveries.delete(tracked));
    return delivery;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The top-level fields whose values changed, with their values before: Stripe's `previous_attributes`. */
function diff(before: StripeObject, after: StripeObject): StripeObject {
  return Object.fromEntries(
    Object.keys(before)
      .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
      .map((key) => [key, before[key]]),
  );
}
