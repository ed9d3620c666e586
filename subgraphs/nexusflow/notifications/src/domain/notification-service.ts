import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { z } from 'zod';
import {
  badUserInput,
  clientError,
  ErrorCode,
  requireUuid,
  type EntityManager,
  type Logger,
  type PubSub,
  type WorkQueue,
} from '@nexusflow/kit';
import { Contact } from '../entities/contact.entity.ts';
import { Delivery, DeliveryStatus } from '../entities/delivery.entity.ts';
import { Notification } from '../entities/notification.entity.ts';
import { Preference } from '../entities/preference.entity.ts';
import { ProcessedEvent } from '../entities/processed-event.entity.ts';
import { Template } from '../entities/template.entity.ts';
import { ProviderError, type Channel, type Provider } from '../providers/index.ts';
import { builtInWording, renderText, transactionalWording, workflowFailedVariables } from './templates.ts';
import { requireEventType } from './validation.ts';
import type { Sender, UserDirectory } from './user-directory.ts';

export type NotificationChannel = Channel | 'IN_APP';
export const ALL_CHANNELS: NotificationChannel[] = ['IN_APP', 'EMAIL', 'SMS', 'PUSH'];
/** Without a preference of their own, users get notifications in the app and by email. */
export const DEFAULT_CHANNELS: NotificationChannel[] = ['IN_APP', 'EMAIL'];

export interface DeliveryMessage {
  deliveryId: string;
}

export interface NotifyRequest {
  tenantId: string;
  userId: string;
  eventType: string;
  variables: Record<string, unknown>;
  /** The domain event being handled: a second delivery of the same event notifies no one again. */
  eventId?: string;
  /** The sender's key for this request: a repeat of it returns the notification the first one created. */
  idempotencyKey?: string;
}

/** A request of `sendNotification`, as the sender gave it. */
export interface SendRequest {
  /** Who sends: the recipient must be a user of their tenant, and the notification is stored under it. */
  sender: Sender;
  userId: string;
  eventType: string;
  variables?: unknown;
  idempotencyKey?: string | null;
}

/** A request of `deliverTransactionalEmail`, as the calling service gave it. */
export interface TransactionalEmailRequest {
  to: string;
  template: string;
  variables?: unknown;
  idempotencyKey?: string | null;
}

const emailAddress = z.email().max(254);

/** What stands in for a transactional email's text once it is sent or given up: it may hold a secret link. */
export const ERASED_BODY = '';

/** How long an attempt holds its delivery: longer than a provider takes to answer or time out (10 s). */
const ATTEMPT_LEASE_MS = 60_000;
/** How early a delayed message may arrive by this service's clock and still make its attempt. */
const EARLY_ARRIVAL_MS = 250;
/** A delivery due this long ago with no attempt has lost its message (or never got one): the sweep queues it again. */
const LOST_MESSAGE_AGE_MS = 60_000;
/** Deliveries one pass of {@link NotificationService.resendDue} queues again; the rest wait for the next. */
const RESEND_BATCH = 1000;

// The widths of their columns.
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const MAX_SUBJECT_LENGTH = 255;

export const liveNotificationTopic = (userId: string) => `notifications:user:${userId}`;

export interface NotificationServiceOptions {
  queue: WorkQueue<DeliveryMessage>;
  pubsub: PubSub;
  providers: Partial<Record<Channel, Provider>>;
  logger: Logger;
  /** Says whether the recipient of a `sendNotification` is a user of the sender's tenant. */
  users: UserDirectory;
  /** Attempts per delivery, the first included. @default 5 */
  maxAttempts?: number;
  /** Wait before the second attempt; doubles for each further one. @default 1000 */
  initialBackoffMs?: number;
  now?: () => Date;
}

/** Values come from senders (a workflow's data, say), so a title may render longer than its column holds. */
function shorten(text: string, maxLength: number): string {
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

function recipientOf(contact: Contact | null, channel: Channel): string | null {
  if (!contact) return null;
  if (channel === 'EMAIL') return contact.email ?? null;
  if (channel === 'SMS') return contact.phone ?? null;
  return contact.pushToken ?? null;
}

/**
 * Creates notifications and delivers them. The notification, its deliveries and (for domain events)
 * the record that the event was handled commit together; deliveries then go through a work queue and
 * are retried with backoff when the provider fails for a reason that may pass. The database, not the queue, is what
 * says a delivery is still to be made: each is due at its `nextAttemptAt`, an attempt claims it, and a delivery whose
 * message never reached the broker or was lost is queued again ({@link resendDue}).
 */
export class NotificationService {
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;
  private readonly now: () => Date;

  constructor(private readonly options: NotificationServiceOptions) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.now = options.now ?? (() => new Date());
  }

  /** The tenant is named: events are handled outside any tenant's scope, and a person's preferences differ by tenant. */
  async channelsFor(em: EntityManager, tenantId: string, userId: string, eventType: string): Promise<NotificationChannel[]> {
    const preferences = await em.find(Preference, { tenantId, userId, eventType: { $in: [eventType, '*'] } });
    const chosen = preferences.find((p) => p.eventType === eventType) ?? preferences.find((p) => p.eventType === '*');
    return (chosen?.channels as NotificationChannel[] | undefined) ?? DEFAULT_CHANNELS;
  }

  /**
   * What `sendNotification` does: checks what the schema cannot, makes sure the recipient is a user of the sender's
   * tenant (users live in the auth subgraph, which is asked as the sender), then notifies. The notification is stored
   * under the sender's tenant.
   */
  async send(em: EntityManager, request: SendRequest): Promise<Notification> {
    const { sender, userId, eventType, variables } = request;
    requireUuid(userId, 'userId');
    requireEventType(eventType);
    if (variables !== null && variables !== undefined && (typeof variables !== 'object' || Array.isArray(variables))) {
      throw badUserInput('variables must be an object of names and values', { field: 'variables' });
    }
    const idempotencyKey = request.idempotencyKey ?? undefined;
    if (idempotencyKey !== undefined && (idempotencyKey === '' || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
      throw badUserInput(`idempotencyKey must have 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, { field: 'idempotencyKey' });
    }
    const notifyRequest: NotifyRequest = {
      tenantId: sender.tenantId,
      userId,
      eventType,
      variables: (variables ?? {}) as Record<string, unknown>,
      idempotencyKey,
    };
    // A repeated key gets what the first request created, whose recipient was checked then; a key used before for
    // another recipient is a CONFLICT. Either way nothing new is created, so auth need not be asked.
    if (idempotencyKey !== undefined) {
      const earlier = await this.earlierWithKey(em, notifyRequest);
      if (earlier) return earlier;
    }
    // Before anything is stored: the notification would otherwise land in the inbox of another tenant's user.
    if (!(await this.options.users.isInSendersTenant(sender, userId))) {
      throw badUserInput('No user with this id in your tenant', { field: 'userId' });
    }
    const notification = await this.notify(em, notifyRequest);
    // notify() returns null only for a domain event handled before, and a sender's request carries no event.
    return notification!;
  }

  /**
   * Notifies a recipient its caller vouches for (a sender's request checked by {@link send}, a workflow's owner named
   * by the workflows service's event): the recipient is not checked here. Returns null when the event was already
   * handled, and the earlier notification when a request with the same idempotency key committed first.
   */
  async notify(em: EntityManager, request: NotifyRequest): Promise<Notification | null> {
    const channels = await this.channelsFor(em, request.tenantId, request.userId, request.eventType);
    const [contact, templates] = await Promise.all([
      em.findOne(Contact, { tenantId: request.tenantId, userId: request.userId }),
      em.find(Template, { tenantId: request.tenantId, eventType: request.eventType }),
    ]);
    const wording = (channel: NotificationChannel) => {
      const own = templates.find((template) => template.channel === channel);
      const chosen = own ? { subject: own.subject ?? '', body: own.body } : builtInWording(request.eventType);
      return {
        subject: shorten(renderText(chosen.subject, request.variables), MAX_SUBJECT_LENGTH),
        body: renderText(chosen.body, request.variables),
      };
    };
    const inApp = wording('IN_APP');
    const deliveries: Delivery[] = [];
    let notification: Notification;
    try {
      notification = await em.transactional(async (tx) => {
        if (request.eventId) tx.create(ProcessedEvent, { eventId: request.eventId });
        const created = tx.create(Notification, {
          tenantId: request.tenantId,
          userId: request.userId,
          eventType: request.eventType,
          title: inApp.subject,
          body: inApp.body,
          data: request.variables,
          readAt: null,
          inApp: channels.includes('IN_APP'),
          idempotencyKey: request.idempotencyKey ?? null,
        });
        for (const channel of channels) {
          if (channel === 'IN_APP') continue;
          const recipient = recipientOf(contact, channel);
          if (!recipient || !this.options.providers[channel]) continue;
          const text = wording(channel);
          // A sender may give a title only: an email, SMS or push must say something (SendGrid refuses an empty one).
          if (text.body.trim() === '') text.body = text.subject.trim() === '' ? request.eventType : text.subject;
          deliveries.push(
            tx.create(Delivery, {
              notificationId: created.id,
              tenantId: request.tenantId,
              channel,
              recipient,
              subject: text.subject,
              body: text.body,
              status: DeliveryStatus.Pending,
              attempts: 0,
              nextAttemptAt: this.now(),
              lastError: null,
              providerMessageId: null,
              sentAt: null,
            }),
          );
        }
        return created;
      });
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      if (request.eventId) return null;
      // A concurrent request with the same key committed first; its notification is the answer to this one too.
      const earlier = request.idempotencyKey ? await this.earlierWithKey(em.fork(), request) : null;
      if (!earlier) throw error;
      return earlier;
    }
    if (channels.includes('IN_APP')) {
      // Stored already: a fan-out outage must fail neither the request nor the deliveries. The subscriber is sent
      // what it missed once the fan-out is back.
      await this.options.pubsub
        .publish(liveNotificationTopic(request.userId), { notificationId: notification.id, tenantId: request.tenantId })
        .catch((error: unknown) => {
          this.options.logger.warn({ err: error, notificationId: notification.id }, 'live fan-out of a notification failed');
        });
    }
    for (const delivery of deliveries) await this.enqueue(delivery.id);
    return notification;
  }

  private async earlierWithKey(em: EntityManager, request: NotifyRequest): Promise<Notification | null> {
    const earlier = await em.findOne(Notification, { tenantId: request.tenantId, idempotencyKey: request.idempotencyKey });
    // Returning a notification for someone or something else would hide a sender's bug behind a success.
    if (earlier && (earlier.userId !== request.userId || earlier.eventType !== request.eventType)) {
      throw clientError(ErrorCode.Conflict, 'idempotencyKey was already used for a notification to another user or of another event type', {
        field: 'idempotencyKey',
      });
    }
    return earlier;
  }

  /**
   * What `deliverTransactionalEmail` does: queues the template's built-in wording, filled with the variables, to an
   * address through the email channel, with the retries of every delivery. Nothing is stored while the channel is off
   * (development without SENDGRID_API_KEY): the email is logged by template, never with its variables, which may hold
   * a secret link. A repeated idempotency key queues nothing new.
   */
  async sendTransactionalEmail(em: EntityManager, request: TransactionalEmailRequest): Promise<{ queued: boolean }> {
    const { to, template, variables } = request;
    if (!emailAddress.safeParse(to).success) throw badUserInput('to must be an email address', { field: 'to' });
    const wording = transactionalWording(template);
    if (!wording) throw badUserInput(`No transactional email template ${JSON.stringify(template)}`, { field: 'template' });
    if (variables !== null && variables !== undefined && (typeof variables !== 'object' || Array.isArray(variables))) {
      throw badUserInput('variables must be an object of names and values', { field: 'variables' });
    }
    const idempotencyKey = request.idempotencyKey ?? null;
    if (idempotencyKey !== null && (idempotencyKey === '' || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
      throw badUserInput(`idempotencyKey must have 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, { field: 'idempotencyKey' });
    }
    if (!this.options.providers.EMAIL) {
      this.options.logger.info({ template }, 'the email channel is off (SENDGRID_API_KEY is unset): a transactional email was not sent');
      return { queued: false };
    }
    if (idempotencyKey !== null && (await em.count(Delivery, { idempotencyKey })) > 0) return { queued: true };
    const values = (variables ?? {}) as Record<string, unknown>;
    const delivery = em.create(Delivery, {
      notificationId: null,
      tenantId: null,
      channel: 'EMAIL',
      recipient: to,
      subject: shorten(renderText(wording.subject, values), MAX_SUBJECT_LENGTH),
      body: renderText(wording.body, values),
      status: DeliveryStatus.Pending,
      attempts: 0,
      nextAttemptAt: this.now(),
      lastError: null,
      providerMessageId: null,
      sentAt: null,
      idempotencyKey,
    });
    try {
      await em.flush();
    } catch (error) {
      // A concurrent request with the same key committed first: that one sends it.
      if (error instanceof UniqueConstraintViolationException) return { queued: true };
      throw error;
    }
    await this.enqueue(delivery.id);
    return { queued: true };
  }

  /**
   * One attempt at one delivery; schedules the next attempt itself when the failure may pass. A message for a delivery
   * that is not due (another attempt holds it, or its retry waits for its backoff) or no longer pending makes none, so a
   * delivery queued twice is still attempted once at a time and sent once.
   */
  async deliver(em: EntityManager, message: DeliveryMessage): Promise<void> {
    const delivery = await em.findOne(Delivery, message.deliveryId);
    if (!delivery || delivery.status !== DeliveryStatus.Pending) return;
    const now = this.now();
    if (delivery.nextAttemptAt && delivery.nextAttemptAt.getTime() > now.getTime() + EARLY_ARRIVAL_MS) return;
    const attempt = delivery.attempts + 1;
    const lease = new Date(now.getTime() + ATTEMPT_LEASE_MS);
    const claimed = await em.nativeUpdate(
      Delivery,
      { id: delivery.id, status: DeliveryStatus.Pending, attempts: delivery.attempts },
      { attempts: attempt, nextAttemptAt: lease },
    );
    if (claimed === 0) return;
    Object.assign(delivery, { attempts: attempt, nextAttemptAt: lease });
    const provider = this.options.providers[delivery.channel as Channel];
    try {
      if (!provider) throw new ProviderError(`No provider configured for ${delivery.channel}`, false);
      const receipt = await provider.send(
        { to: delivery.recipient, subject: delivery.subject ?? undefined, body: delivery.body },
        { idempotencyKey: delivery.id },
      );
      Object.assign(delivery, {
        status: DeliveryStatus.Sent,
        providerMessageId: receipt.providerMessageId,
        sentAt: this.now(),
        nextAttemptAt: null,
        lastError: null,
      });
      if (delivery.notificationId === null) delivery.body = ERASED_BODY;
      await em.flush();
    } catch (error) {
      const retryable = error instanceof ProviderError ? error.retryable : true;
      delivery.lastError = error instanceof Error ? error.message : String(error);
      const again = retryable && delivery.attempts < this.maxAttempts;
      const delayMs = this.initialBackoffMs * 2 ** (delivery.attempts - 1);
      delivery.nextAttemptAt = again ? new Date(this.now().getTime() + delayMs) : null;
      if (!again) delivery.status = DeliveryStatus.Failed;
      if (!again && delivery.notificationId === null) delivery.body = ERASED_BODY;
      await em.flush();
      if (again) await this.enqueue(delivery.id, delayMs);
    }
  }

  /**
   * Queues again the pending deliveries due at least `overdueMs` ago: after the broker was away (every due one), and
   * now and then for those whose message was lost (long overdue). Each is pushed forward by that much first, so that the
   * next sweep leaves it to this message. Returns how many were queued.
   */
  async resendDue(em: EntityManager, overdueMs = 0): Promise<number> {
    const now = this.now();
    const cutoff = new Date(now.getTime() - overdueMs);
    // Pushed forward in the statement that picks them, row by row under its lock: a delivery an attempt claimed
    // meanwhile (its next attempt now its lease's end) is no longer overdue, and is neither pushed back nor queued.
    const due = await em.getConnection().execute<{ id: string }[]>(
      `update "deliveries" set "next_attempt_at" = case when ?::boolean then ?::timestamptz else "next_attempt_at" end
       where "id" in (select "id" from "deliveries" where "status" = ? and "next_attempt_at" <= ?
                      order by "next_attempt_at" limit ? for update skip locked)
       returning "id"`,
      [overdueMs > 0, now, DeliveryStatus.Pending, cutoff, RESEND_BATCH],
    );
    const ids = due.map((row) => row.id);
    let queued = 0;
    // The first that cannot be queued says the broker is away: the rest wait for its return too.
    for (const id of ids) {
      if (!(await this.enqueue(id))) break;
      queued += 1;
    }
    return queued;
  }

  /** The sweep for deliveries whose message was lost: those pending and due for over a minute. */
  resendLost(em: EntityManager): Promise<number> {
    return this.resendDue(em, LOST_MESSAGE_AGE_MS);
  }

  /**
   * Queued without waiting for a broker that is away: the delivery is recorded already, and is queued again once the
   * broker is back ({@link resendDue}), so the request is answered at once either way. Resolves to whether it was queued.
   */
  private async enqueue(deliveryId: string, delayMs = 0): Promise<boolean> {
    try {
      await this.options.queue.enqueue({ deliveryId }, { delayMs, waitForReconnection: false });
      return true;
    } catch (error) {
      this.options.logger.warn({ err: error, deliveryId }, 'a delivery is recorded but not queued; it is queued when the broker is back');
      return false;
    }
  }

  /** Warns a tenant's billing contact that a payment failed (billing's `billing.payment.past_due`), once per event. */
  async handleBillingPastDue(em: EntityManager, event: { id: string; payload: Record<string, unknown> }): Promise<void> {
    const { tenantId, userId, plan, graceEndsAt, invoiceUrl } = event.payload as Record<string, string | null | undefined>;
    if (!tenantId || !userId) return;
    await this.notify(em, {
      tenantId,
      userId,
      eventType: 'billing.payment.past_due',
      variables: { plan, graceEndsAt, invoiceUrl },
      eventId: event.id,
    });
  }

  /** Handles a domain event once, however often the bus delivers it. */
  async handleWorkflowFailed(em: EntityManager, event: { id: string; payload: Record<string, unknown> }): Promise<void> {
    const { tenantId, ownerId } = event.payload as Record<string, string | undefined>;
    if (!tenantId || !ownerId) return;
    await this.notify(em, {
      tenantId,
      userId: ownerId,
      eventType: 'workflow.execution.failed',
      variables: workflowFailedVariables(event.payload),
      eventId: event.id,
    });
  }
}
