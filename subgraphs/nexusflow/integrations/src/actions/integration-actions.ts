import {
  clientError,
  ErrorCode,
  requireRole,
  requireUser,
  requireUuid,
  Role,
  type EntityManager,
  type Identity,
  type Logger,
} from '@nexusflow/kit';
import type { Connections } from '../domain/connections.ts';
import { Integration } from '../entities/integration.entity.ts';
import { PROVIDERS, type ProviderKind, type ProviderName, type ProviderSettings } from '../domain/providers.ts';
import { Gmail } from './gmail.ts';
import { deliverToHook } from './hooks.ts';
import { MicrosoftGraph } from './microsoft-graph.ts';
import { ProviderActionError, withAccessToken, type ActionFailureReason } from './provider-failure.ts';
import type { ActionReceipts } from './receipts.ts';
import { SlackMessaging } from './slack.ts';
import type { MailMessage } from './types.ts';

const ACTING_ROLES = [Role.Owner, Role.Admin, Role.Member] as const;
/** Slack cuts a message at 40,000 characters; Teams takes about 28 KB. */
const MAX_TEXT_LENGTH = 28_000;
const MAX_CHANNEL_LENGTH = 255;
const MAX_MAIL_PAGE = 50;

export type IntegrationActionFailed = {
  __typename: 'IntegrationActionFailed';
  message: string;
  reason: ActionFailureReason;
  retryable: boolean;
  providerError: string | null;
  retryAfterSeconds: number | null;
};

type IntegrationNotFound = { __typename: 'IntegrationNotFound'; message: string; id: string };

type Outcome<T> = T | IntegrationActionFailed | IntegrationNotFound;

export type PostIntegrationMessageResult = Outcome<{
  __typename: 'IntegrationMessagePosted';
  integrationId: string;
  provider: ProviderName;
  channel: string;
  messageId: string;
  postedAt: Date;
}>;

export type SendIntegrationHookResult = Outcome<{
  __typename: 'IntegrationHookDelivered';
  integrationId: string;
  provider: ProviderName;
  status: number;
}>;

export type IntegrationMessagesResult = Outcome<{ __typename: 'IntegrationMailMessages'; integrationId: string; messages: MailMessage[] }>;

export type IntegrationMessageResult = Outcome<{ __typename: 'IntegrationMailMessage' } & MailMessage>;

export interface IntegrationActionsSettings {
  providers: Readonly<Record<ProviderName, ProviderSettings>>;
  connections: Connections;
  /** Where actions asked for with an idempotency key are recorded, so that a retry does not act twice. */
  receipts: ActionReceipts;
  providerTimeoutSeconds: number;
  logger: Logger;
  now: () => number;
}

/**
 * What NexusFlow does at a provider through a tenant's connection: post to Slack or Teams, deliver to a Zapier or Make
 * hook, read Gmail or Outlook mail. A token the provider rejects is refreshed and the action tried once more; every
 * other failure is answered in the provider's words, saying whether trying again later may work.
 */
export class IntegrationActions {
  private readonly slack: SlackMessaging;
  private readonly teams: MicrosoftGraph;
  private readonly outlook: MicrosoftGraph;
  private readonly gmail: Gmail;

  constructor(private readonly settings: IntegrationActionsSettings) {
    const timeoutMs = settings.providerTimeoutSeconds * 1000;
    this.slack = new SlackMessaging(settings.providers.SLACK, timeoutMs, settings.logger);
    this.teams = new MicrosoftGraph(settings.providers.MICROSOFT_TEAMS, timeoutMs, settings.now);
    this.outlook = new MicrosoftGraph(settings.providers.OUTLOOK, timeoutMs, settings.now);
    this.gmail = new Gmail(settings.providers.GMAIL, timeoutMs, settings.now);
  }

  /**
   * Posts `text` to a Slack channel (an id or #name) or a Teams channel or chat. OWNER, ADMIN or MEMBER. With an
   * idempotency key, a message posted under it before is answered again instead of being posted twice.
   */
  async postMessage(
    em: EntityManager,
    identity: Identity,
    integrationId: string,
    channel: string,
    text: string,
    idempotencyKey: string | null = null,
  ): Promise<PostIntegrationMessageResult> {
    const caller = requireRole(identity, ACTING_ROLES);
    const trimmedChannel = channel.trim();
    if (trimmedChannel === '' || trimmedChannel.length > MAX_CHANNEL_LENGTH) {
      throw clientError(ErrorCode.BadUserInput, `channel must have 1 to ${MAX_CHANNEL_LENGTH} characters`, { field: 'channel' });
    }
    if (text.trim() === '' || text.length > MAX_TEXT_LENGTH) {
      throw clientError(ErrorCode.BadUserInput, `text must have 1 to ${MAX_TEXT_LENGTH} characters`, { field: 'text' });
    }
    const integration = await this.find(em, integrationId);
    if (!integration) return notFound(integrationId);
    const provider = integration.provider as ProviderName;
    const unsupported = this.unsupported(provider, 'MESSAGING', 'posts messages');
    if (unsupported) return unsupported;
    const revive = (earlier: Record<string, unknown>) =>
      ({ ...earlier, postedAt: new Date(String(earlier.postedAt)) }) as Exclude<PostIntegrationMessageResult, { message: string }>;
    return this.once(em, caller.tenantId, idempotencyKey, 'postMessage', revive, async () => {
      const posted = await withAccessToken(this.settings.connections, em, integration.id, (token) =>
        provider === 'SLACK'
          ? this.slack.postMessage(token, trimmedChannel, text)
          : this.teams.postTeamsMessage(token, trimmedChannel, text),
      );
      return {
        __typename: 'IntegrationMessagePosted' as const,
        integrationId: integration.id,
        provider,
        channel: posted.channel,
        messageId: posted.messageId,
        postedAt: new Date(this.settings.now()),
      };
    });
  }

  /** Sends `payload` as JSON to a Zapier or Make integration's hook URL, once per idempotency key. OWNER, ADMIN or MEMBER. */
  async sendToHook(
    em: EntityManager,
    identity: Identity,
    integrationId: string,
    payload: unknown,
    idempotencyKey: string | null = null,
  ): Promise<SendIntegrationHookResult> {
    const caller = requireRole(identity, ACTING_ROLES);
    const integration = await this.find(em, integrationId);
    if (!integration) return notFound(integrationId);
    const provider = integration.provider as ProviderName;
    const unsupported = this.unsupported(provider, 'WEBHOOK', 'takes hook deliveries');
    if (unsupported) return unsupported;
    if (!integration.hookTargetUrl)
      return failed(new ProviderActionError('NOT_CONNECTED', `Integration ${integration.id} has no hook URL`, false));
    const targetUrl = integration.hookTargetUrl;
    const revive = (earlier: Record<string, unknown>) => earlier as Exclude<SendIntegrationHookResult, { message: string }>;
    return this.once(em, caller.tenantId, idempotencyKey, 'sendToHook', revive, async () => {
      const delivered = await deliverToHook(
        PROVIDERS[provider].displayName,
        targetUrl,
        payload,
        this.settings.providerTimeoutSeconds * 1000,
        this.settings.now,
      );
      return { __typename: 'IntegrationHookDelivered' as const, integrationId: integration.id, provider, status: delivered.status };
    });
  }

  /** The newest messages of a Gmail or Outlook mailbox, without their bodies. Any member of the tenant. */
  async listMessages(em: EntityManager, identity: Identity, integrationId: string, first: number): Promise<IntegrationMessagesResult> {
    requireUser(identity);
    const limit = Math.min(Math.max(first, 1), MAX_MAIL_PAGE);
    const integration = await this.find(em, integrationId);
    if (!integration) return notFound(integrationId);
    const provider = integration.provider as ProviderName;
    const unsupported = this.unsupported(provider, 'MAIL', 'has mail to read');
    if (unsupported) return unsupported;
    return this.attempt(async () => {
      const messages = await withAccessToken(this.settings.connections, em, integration.id, (token) =>
        provider === 'GMAIL' ? this.gmail.listMail(token, limit) : this.outlook.listMail(token, limit),
      );
      return { __typename: 'IntegrationMailMessages' as const, integrationId: integration.id, messages };
    });
  }

  /** One message of a Gmail or Outlook mailbox, with its plain-text body. Any member of the tenant. */
  async message(em: EntityManager, identity: Identity, integrationId: string, id: string): Promise<IntegrationMessageResult> {
    requireUser(identity);
    if (id.trim() === '') throw clientError(ErrorCode.BadUserInput, 'id must not be empty', { field: 'id' });
    const integration = await this.find(em, integrationId);
    if (!integration) return notFound(integrationId);
    const provider = integration.provider as ProviderName;
    const unsupported = this.unsupported(provider, 'MAIL', 'has mail to read');
    if (unsupported) return unsupported;
    return this.attempt(async () => {
      const message = await withAccessToken(this.settings.connections, em, integration.id, (token) =>
        provider === 'GMAIL' ? this.gmail.getMail(token, id) : this.outlook.getMail(token, id),
      );
      return { __typename: 'IntegrationMailMessage' as const, ...message };
    });
  }

  /** The request's unit of work sees the caller's tenant only, so another tenant's integration is not found. */
  private find(em: EntityManager, integrationId: string): Promise<Integration | null> {
    return em.findOne(Integration, { id: requireUuid(integrationId, 'integrationId'), disconnectedAt: null });
  }

  private unsupported(provider: ProviderName, kind: ProviderKind, what: string): IntegrationActionFailed | null {
    if (PROVIDERS[provider].kind === kind) return null;
    return failed(new ProviderActionError('UNSUPPORTED', `${PROVIDERS[provider].displayName} is not a provider that ${what}`, false));
  }

  /**
   * Does `action` once per idempotency key: its success is recorded under the key, and a later call with the key is
   * answered with it. A failure records nothing, and a call that finds an attempt without a recorded outcome (the
   * provider's answer was lost) acts again: neither Slack, Graph nor the hooks take an idempotency key of their own.
   */
  private async once<T extends { __typename: string }>(
    em: EntityManager,
    tenantId: string,
    idempotencyKey: string | null,
    name: string,
    revive: (earlier: Record<string, unknown>) => T,
    action: () => Promise<T>,
  ): Promise<T | IntegrationActionFailed> {
    if (idempotencyKey === null) return this.attempt(action);
    const claim = await this.settings.receipts.claim(em, tenantId, idempotencyKey, name);
    if (claim.kind === 'repeat') return revive(claim.result);
    if (claim.kind === 'unfinished') {
      this.settings.logger.warn({ action: name }, 'an earlier attempt under this idempotency key has no recorded outcome; acting again');
    }
    const outcome = await this.attempt(action);
    if (outcome.__typename !== 'IntegrationActionFailed') {
      await this.settings.receipts.complete(em, tenantId, idempotencyKey, JSON.parse(JSON.stringify(outcome)) as Record<string, unknown>);
    }
    return outcome;
  }

  private async attempt<T>(action: () => Promise<T>): Promise<T | IntegrationActionFailed> {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof ProviderActionError)) throw error;
      this.settings.logger.warn({ reason: error.reason, providerError: error.providerError, retryable: error.retryable }, error.message);
      return failed(error);
    }
  }
}

function failed(error: ProviderActionError): IntegrationActionFailed {
  return {
    __typename: 'IntegrationActionFailed',
    message: error.message,
    reason: error.reason,
    retryable: error.retryable,
    providerError: error.providerError,
    retryAfterSeconds: error.retryAfterSeconds,
  };
}

const notFound = (id: string): IntegrationNotFound => ({ __typename: 'IntegrationNotFound', message: `No integration ${id}`, id });
