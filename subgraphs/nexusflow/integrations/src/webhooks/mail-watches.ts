import type { IncomingMessage } from 'node:http';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  clientError,
  ErrorCode,
  HttpError,
  readBody,
  requireRole,
  requireUuid,
  Role,
  systemFork,
  type Database,
  type EntityManager,
  type Identity,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import { Gmail } from '../actions/gmail.ts';
import { MicrosoftGraph } from '../actions/microsoft-graph.ts';
import { ProviderActionError, withAccessToken } from '../actions/provider-failure.ts';
import type { Connections } from '../domain/connections.ts';
import type { ProviderName, ProviderSettings } from '../domain/providers.ts';
import { Integration } from '../entities/integration.entity.ts';
import { MailPushReceipt } from '../entities/mail-push-receipt.entity.ts';
import { MailboxWatch } from '../entities/mailbox-watch.entity.ts';
import type { WebhookDeliveries } from './deliveries.ts';
import { parsePush, PubSubPushVerifier, type PubSubPush } from './pubsub-push.ts';
import type { ReceivedEvent } from './schemes.ts';
import type { IntegrationWebhookSecrets } from './secrets.ts';

/** Where Pub/Sub pushes Gmail's notifications: one URL for every mailbox, routed by the address in each. */
export const GMAIL_PUSH_PATH = '/webhooks/apps/gmail';

const WATCHING_ROLES = [Role.Owner, Role.Admin] as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Gmail's watch lasts 7 days; Google asks for `users.watch` again daily, so one renewed over a day ago is due. */
const GMAIL_RENEW_WHEN_LEFT_MS = 6 * DAY_MS;
/** Pub/Sub keeps an unacknowledged message at most 7 days: a receipt older than that has nothing left to refuse. */
const RECEIPT_RETENTION_MS = 7 * DAY_MS;
const RENEWAL_BATCH = 100;

export interface MailWatchSettings {
  gmailTopic: string | undefined;
  gmailPushServiceAccount: string | undefined;
  gmailPushAudience: string | undefined;
  googleJwksUrl: string;
  outlookSubscriptionMinutes: number;
  renewalIntervalSeconds: number;
}

export interface MailboxWatchesOptions {
  database: Database;
  connections: Connections;
  providers: Readonly<Record<ProviderName, ProviderSettings>>;
  secrets: IntegrationWebhookSecrets;
  deliveries: WebhookDeliveries;
  settings: MailWatchSettings;
  maxBodyBytes: number;
  providerTimeoutSeconds: number;
  logger: Logger;
  now: () => number;
}

export type WatchIntegrationMailboxResult =
  | { __typename: 'IntegrationMailboxWatch'; integration: Integration; expiresAt: Date; renewedAt: Date }
  | { __typename: 'IntegrationNotFound'; message: string; id: string }
  | {
      __typename: 'IntegrationActionFailed';
      message: string;
      reason: ProviderActionError['reason'];
      retryable: boolean;
      providerError: string | null;
      retryAfterSeconds: number | null;
    };

const isMailProvider = (provider: string): provider is 'GMAIL' | 'OUTLOOK' => provider === 'GMAIL' || provider === 'OUTLOOK';

/** Gmail's history ids are unsigned 64-bit integers, beyond a double's precision. */
const laterHistoryId = (a: string, b: string) => (BigInt(a) >= BigInt(b) ? a : b);

/**
 * How Gmail and Outlook integrations hear of new mail. Outlook: a Microsoft Graph subscription to the inbox's messages,
 * notifying the integration's own webhook URL (verified by its clientState, see schemes.ts). Gmail: `users.watch` on
 * the deployment's Pub/Sub topic, whose push subscription delivers to {@link GMAIL_PUSH_PATH}; each push is verified by
 * its OIDC token and answered by listing the mailbox's history since the last one, each new message recorded as a
 * delivery. Watches are made on connecting, renewed by a periodic pass before they lapse, and ended on disconnecting.
 */
export class MailboxWatches {
  private readonly gmail: Gmail;
  private readonly outlook: MicrosoftGraph;
  private readonly pushVerifier: PubSubPushVerifier | undefined;

  constructor(private readonly options: MailboxWatchesOptions) {
    const timeoutMs = options.providerTimeoutSeconds * 1000;
    this.gmail = new Gmail(options.providers.GMAIL, timeoutMs, options.now);
    this.outlook = new MicrosoftGraph(options.providers.OUTLOOK, timeoutMs, options.now);
    const { gmailPushServiceAccount, gmailPushAudience, googleJwksUrl } = options.settings;
    this.pushVerifier = gmailPushServiceAccount
      ? new PubSubPushVerifier({
          jwksUrl: googleJwksUrl,
          audience: gmailPushAudience ?? options.deliveries.appUrlOf(GMAIL_PUSH_PATH),
          serviceAccount: gmailPushServiceAccount,
          now: options.now,
        })
      : undefined;
  }

  /** After an integration is connected (or connected again): its mail watched, when it is a mailbox. Never throws. */
  async connected(integration: Integration): Promise<void> {
    if (!isMailProvider(integration.provider)) return;
    if (integration.provider === 'GMAIL' && !this.options.settings.gmailTopic) {
      this.options.logger.info({ integrationId: integration.id }, 'Gmail is not watched: INTEGRATIONS_GMAIL_PUBSUB_TOPIC is not set');
      return;
    }
    try {
      await this.watch(integration);
    } catch (error) {
      if (!(error instanceof ProviderActionError)) throw error;
      this.options.logger.warn({ integrationId: integration.id, reason: error.reason }, `could not watch the mailbox: ${error.message}`);
    }
  }

  /** Before an integration is disconnected, while its tokens work: the provider stops notifying. Never throws. */
  async disconnecting(integration: Integration): Promise<void> {
    const em = systemFork(this.options.database);
    const watch = await em.findOne(MailboxWatch, { integrationId: integration.id });
    if (!watch) return;
    try {
      await this.end(integration, watch);
    } catch (error) {
      if (!(error instanceof ProviderActionError)) throw error;
      // The grant is revoked next, which ends what the provider would still send.
      this.options.logger.warn(
        { integrationId: integration.id, reason: error.reason },
        `could not end the mailbox watch: ${error.message}`,
      );
    }
    await em.nativeDelete(MailboxWatch, { integrationId: integration.id });
  }

  /** watchIntegrationMailbox: the mailbox watched anew. OWNER or ADMIN. */
  async rewatch(em: EntityManager, identity: Identity, id: string): Promise<WatchIntegrationMailboxResult> {
    requireRole(identity, WATCHING_ROLES);
    const integration = await em.findOne(Integration, { id: requireUuid(id, 'id'), disconnectedAt: null });
    if (!integration) return { __typename: 'IntegrationNotFound', message: `No integration ${id}`, id };
    if (!isMailProvider(integration.provider)) {
      return failed(new ProviderActionError('UNSUPPORTED', `${this.displayName(integration)} has no mailbox to watch`, false));
    }
    if (integration.provider === 'GMAIL' && !this.options.settings.gmailTopic) {
      throw clientError(
        ErrorCode.ServiceUnavailable,
        'Gmail cannot be watched on this deployment: set INTEGRATIONS_GMAIL_PUBSUB_TOPIC (and INTEGRATIONS_GMAIL_PUSH_SERVICE_ACCOUNT for its pushes)',
      );
    }
    try {
      // Made anew rather than renewed: a Graph subscription keeps the clientState it was made with, and an admin may
      // have rotated the webhook secret since.
      const watch = await this.watch(integration, { fresh: true });
      return { __typename: 'IntegrationMailboxWatch', integration, expiresAt: watch.expiresAt!, renewedAt: watch.renewedAt! };
    } catch (error) {
      if (!(error instanceof ProviderActionError)) throw error;
      return failed(error);
    }
  }

  /**
   * Renews every watch that is due: Gmail's renewed over a day ago, Outlook's past half their life, and those whose
   * last attempt failed; a Graph subscription that is gone is made again. Returns how many were renewed. The periodic
   * pass; what is due is stored, so a restart loses nothing.
   */
  async renewDue(): Promise<number> {
    const em = systemFork(this.options.database);
    const now = this.options.now();
    const outlookHalfLife = (this.options.settings.outlookSubscriptionMinutes * 60_000) / 2;
    await em.nativeDelete(MailPushReceipt, { receivedAt: { $lt: new Date(now - RECEIPT_RETENTION_MS) } });
    const due = await em.find(
      MailboxWatch,
      {
        $or: [
          { expiresAt: null },
          { provider: 'GMAIL', expiresAt: { $lte: new Date(now + GMAIL_RENEW_WHEN_LEFT_MS) } },
          { provider: 'OUTLOOK', expiresAt: { $lte: new Date(now + outlookHalfLife) } },
        ],
      },
      { orderBy: { expiresAt: 'asc' }, limit: RENEWAL_BATCH },
    );
    let renewed = 0;
    for (const watch of due) {
      const integration = await em.findOne(Integration, { id: watch.integrationId, disconnectedAt: null });
      if (!integration) {
        await em.nativeDelete(MailboxWatch, { integrationId: watch.integrationId });
        continue;
      }
      if (integration.provider === 'GMAIL' && !this.options.settings.gmailTopic) continue;
      try {
        await this.watch(integration);
        renewed += 1;
      } catch (error) {
        if (!(error instanceof ProviderActionError)) throw error;
        this.options.logger.warn(
          { integrationId: integration.id, reason: error.reason },
          `could not renew the mailbox watch: ${error.message}`,
        );
      }
    }
    return renewed;
  }

  /** The periodic renewal pass, first at once (after a restart, what fell due meanwhile). */
  startRenewing(): { stop: () => Promise<void> } {
    let running: Promise<unknown> = Promise.resolve();
    const pass = () => {
      running = running
        .then(() => this.renewDue())
        .catch((error: unknown) => this.options.logger.error({ err: error }, 'the mailbox watch renewal pass failed'));
    };
    pass();
    const timer = setInterval(pass, this.options.settings.renewalIntervalSeconds * 1000);
    timer.unref();
    return {
      stop: async () => {
        clearInterval(timer);
        await running;
      },
    };
  }

  /** `POST /webhooks/apps/gmail`: Pub/Sub's pushes of Gmail's notifications. */
  route(): RouteHandler {
    return async (req, res, url) => {
      if (url.pathname !== GMAIL_PUSH_PATH) return false;
      if (req.method !== 'POST') throw new HttpError(405, ErrorCode.BadRequest, 'Webhooks accept POST only', { allow: 'POST' });
      const answer = await this.receivePush(req, await readBody(req, this.options.maxBodyBytes));
      const body = JSON.stringify(answer);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return true;
    };
  }

  /**
   * One push: verified, then, unless its messageId was handled before, each connected Gmail integration of the mailbox
   * lists the history since its last notification and records each new message once. A provider outage is answered 503
   * before the receipt is stored, so that Pub/Sub pushes again.
   */
  private async receivePush(req: IncomingMessage, body: Buffer): Promise<{ received: number; new: number }> {
    if (!this.options.settings.gmailTopic || !this.pushVerifier) {
      throw new HttpError(
        503,
        ErrorCode.ServiceUnavailable,
        'Gmail pushes cannot be verified: the deployment has not set INTEGRATIONS_GMAIL_PUBSUB_TOPIC and INTEGRATIONS_GMAIL_PUSH_SERVICE_ACCOUNT',
      );
    }
    await this.pushVerifier.verify(req.headers);
    const push = parsePush(body);
    const em = systemFork(this.options.database);
    if (await em.findOne(MailPushReceipt, { messageId: push.messageId })) return { received: 0, new: 0 };
    const integrations = await em.find(Integration, {
      provider: 'GMAIL',
      accountId: push.notification.emailAddress,
      disconnectedAt: null,
    });
    if (integrations.length === 0) {
      this.options.logger.warn({ messageId: push.messageId }, 'a Gmail push for a mailbox no integration watches was dropped');
    }
    let received = 0;
    let recorded = 0;
    for (const integration of integrations) {
      const events = await this.newMessagesOf(integration, push);
      received += events.length;
      recorded += await this.options.deliveries.accept(integration, events);
    }
    try {
      await em.insert(MailPushReceipt, { messageId: push.messageId, receivedAt: new Date(this.options.now()) });
    } catch (error) {
      // The same push handled at once by another request: its messages were recorded once all the same.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
    }
    return { received, new: recorded };
  }

  private async newMessagesOf(integration: Integration, push: PubSubPush): Promise<ReceivedEvent[]> {
    const em = systemFork(this.options.database);
    const watch = await em.findOne(MailboxWatch, { integrationId: integration.id });
    // Without a stored start (a watch lost), Gmail's own notification says where the mailbox is now.
    const start = watch?.historyId ?? push.notification.historyId;
    let added: Awaited<ReturnType<Gmail['messagesAddedSince']>>;
    try {
      added = await withAccessToken(this.options.connections, systemFork(this.options.database), integration.id, (token) =>
        this.gmail.messagesAddedSince(token, start),
      );
    } catch (error) {
      if (!(error instanceof ProviderActionError)) throw error;
      if (error.retryable) throw new HttpError(503, ErrorCode.ServiceUnavailable, `Gmail could not be read: ${error.message}`);
      // 404: the start is older than Gmail keeps history for; what came meanwhile is not listed, and this starts afresh.
      this.options.logger.warn({ integrationId: integration.id, reason: error.reason }, `a Gmail push was not followed: ${error.message}`);
      added = { messages: [], historyId: push.notification.historyId };
    }
    if (watch) {
      const historyId = laterHistoryId(watch.historyId ?? added.historyId, added.historyId);
      await em.nativeUpdate(MailboxWatch, { integrationId: integration.id }, { historyId });
    }
    return added.messages.map((message) => ({
      deliveryId: message.id,
      eventType: 'messageAdded',
      objectType: 'message',
      objectId: message.id,
      occurredAt: push.publishTime,
      data: {
        emailAddress: push.notification.emailAddress,
        historyId: push.notification.historyId,
        message,
        pubsubMessageId: push.messageId,
      },
    }));
  }

  /** Makes or renews the integration's watch at its provider, storing what the provider answered (or its refusal). */
  private async watch(integration: Integration, { fresh = false } = {}): Promise<MailboxWatch> {
    const em = systemFork(this.options.database);
    const existing = await em.findOne(MailboxWatch, { integrationId: integration.id });
    const watch =
      existing ??
      em.create(MailboxWatch, {
        integrationId: integration.id,
        tenantId: integration.tenantId,
        provider: integration.provider,
        subscriptionId: null,
        historyId: null,
        expiresAt: null,
        renewedAt: null,
        lastError: null,
      });
    try {
      if (integration.provider === 'GMAIL') await this.watchGmail(em, integration, watch);
      else await this.watchOutlook(em, integration, watch, fresh);
      watch.renewedAt = new Date(this.options.now());
      watch.lastError = null;
      await em.flush();
      return watch;
    } catch (error) {
      if (!(error instanceof ProviderActionError)) throw error;
      watch.lastError = error.message;
      await em.flush();
      throw error;
    }
  }

  /** `users.watch` both makes and renews; the history id stored is kept, so that nothing since is missed. */
  private async watchGmail(em: EntityManager, integration: Integration, watch: MailboxWatch): Promise<void> {
    const topic = this.options.settings.gmailTopic!;
    const { address, answer } = await withAccessToken(
      this.options.connections,
      systemFork(this.options.database),
      integration.id,
      async (token) => ({
        address: (await this.gmail.emailAddress(token)).toLowerCase(),
        answer: await this.gmail.watch(token, topic),
      }),
    );
    // Pushes name the mailbox by its address: that is the account they are routed by.
    if (integration.accountId !== address) {
      await em.nativeUpdate(Integration, { id: integration.id }, { accountId: address });
      integration.accountId = address;
    }
    watch.historyId ??= answer.historyId;
    watch.expiresAt = answer.expiration;
  }

  /**
   * Renews the subscription; one Graph no longer knows (expired, deleted) is made again, as is a first one. `fresh`
   * replaces it with a new one, made with the integration's current secret as its clientState.
   */
  private async watchOutlook(em: EntityManager, integration: Integration, watch: MailboxWatch, fresh: boolean): Promise<void> {
    const expiresAt = new Date(this.options.now() + this.options.settings.outlookSubscriptionMinutes * 60_000);
    if (watch.subscriptionId && fresh) {
      try {
        await this.end(integration, watch);
      } catch (error) {
        if (!(error instanceof ProviderActionError) || error.retryable) throw error;
      }
      watch.subscriptionId = null;
    }
    if (watch.subscriptionId) {
      const subscriptionId = watch.subscriptionId;
      try {
        const renewed = await withAccessToken(this.options.connections, systemFork(this.options.database), integration.id, (token) =>
          this.outlook.renewSubscription(token, subscriptionId, expiresAt),
        );
        watch.expiresAt = renewed.expirationDateTime;
        return;
      } catch (error) {
        if (!(error instanceof ProviderActionError) || error.reason !== 'REFUSED') throw error;
        this.options.logger.info({ integrationId: integration.id }, `the Graph subscription is made again: ${error.message}`);
      }
    }
    const clientState = await this.options.secrets.ensure(em, integration);
    const created = await withAccessToken(this.options.connections, systemFork(this.options.database), integration.id, (token) =>
      this.outlook.subscribeToInbox(token, this.options.deliveries.urlOf(integration.id), clientState, expiresAt),
    );
    watch.subscriptionId = created.id;
    watch.expiresAt = created.expirationDateTime;
  }

  private async end(integration: Integration, watch: MailboxWatch): Promise<void> {
    if (integration.provider === 'GMAIL') {
      await withAccessToken(this.options.connections, systemFork(this.options.database), integration.id, (token) => this.gmail.stop(token));
    } else if (watch.subscriptionId) {
      const subscriptionId = watch.subscriptionId;
      await withAccessToken(this.options.connections, systemFork(this.options.database), integration.id, (token) =>
        this.outlook.deleteSubscription(token, subscriptionId),
      );
    }
  }

  private displayName(integration: Integration): string {
    return this.options.providers[integration.provider as ProviderName].definition.displayName;
  }
}

function failed(error: ProviderActionError): Extract<WatchIntegrationMailboxResult, { __typename: 'IntegrationActionFailed' }> {
  return {
    __typename: 'IntegrationActionFailed',
    message: error.message,
    reason: error.reason,
    retryable: error.retryable,
    providerError: error.providerError,
    retryAfterSeconds: error.retryAfterSeconds,
  };
}
