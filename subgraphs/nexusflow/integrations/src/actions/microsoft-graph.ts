import { endpointOn, type ProviderSettings } from '../domain/providers.ts';
import { callRest, type ErrorReader } from './rest.ts';
import type { MailMessage, PostedMessage } from './types.ts';

/** Graph's errors: `{"error": {"code": "…", "message": "…"}}`. */
const readGraphError: ErrorReader = (body) => {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return {
    code: typeof error?.code === 'string' ? error.code : null,
    message: typeof error?.message === 'string' ? error.message : null,
  };
};

interface GraphMessage {
  id: string;
  conversationId?: string;
  subject?: string | null;
  bodyPreview?: string | null;
  receivedDateTime?: string | null;
  from?: { emailAddress?: { address?: string } } | null;
  toRecipients?: { emailAddress?: { address?: string } }[];
  body?: { contentType?: string; content?: string } | null;
}

const LIST_FIELDS = 'id,conversationId,subject,bodyPreview,receivedDateTime,from,toRecipients';

/** The resource of new-mail notifications: messages arriving in the signed-in user's inbox. */
export const INBOX_MESSAGES = "me/mailFolders('Inbox')/messages";

/** A Graph change-notification subscription, as Graph answers it. */
export interface GraphSubscription {
  id: string;
  expirationDateTime: Date;
}

/**
 * Microsoft Graph v1.0 over its documented REST shapes with fetch: Teams channel and chat messages, Outlook mail and
 * its change-notification subscriptions. The Graph SDK would add a middleware chain and an authentication provider
 * around the same requests, for a handful of calls.
 */
export class MicrosoftGraph {
  constructor(
    private readonly settings: ProviderSettings,
    private readonly timeoutMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * `channel` is `<team id>/<channel id>` for a team's channel (POST /teams/{team-id}/channels/{channel-id}/messages)
   * or a chat's id (POST /chats/{chat-id}/messages).
   */
  async postTeamsMessage(accessToken: string, channel: string, text: string): Promise<PostedMessage> {
    const [teamId, channelId] = channel.split('/');
    const path =
      channelId === undefined
        ? `/v1.0/chats/${encodeURIComponent(channel)}/messages`
        : `/v1.0/teams/${encodeURIComponent(teamId!)}/channels/${encodeURIComponent(channelId)}/messages`;
    const posted = await this.call<{ id: string }>(accessToken, path, {
      method: 'POST',
      body: { body: { contentType: 'text', content: text } },
    });
    return { channel, messageId: posted.id };
  }

  /** The signed-in user's newest messages (GET /me/messages). */
  async listMail(accessToken: string, first: number): Promise<MailMessage[]> {
    const query = new URLSearchParams({ $top: String(first), $select: LIST_FIELDS, $orderby: 'receivedDateTime desc' });
    const page = await this.call<{ value: GraphMessage[] }>(accessToken, `/v1.0/me/messages?${query}`);
    return page.value.map((message) => mailOf(message, null));
  }

  /** One message with its body as text (GET /me/messages/{id}, Prefer: outlook.body-content-type="text"). */
  async getMail(accessToken: string, id: string): Promise<MailMessage> {
    const query = new URLSearchParams({ $select: `${LIST_FIELDS},body` });
    const message = await this.call<GraphMessage>(accessToken, `/v1.0/me/messages/${encodeURIComponent(id)}?${query}`, {
      headers: { prefer: 'outlook.body-content-type="text"' },
    });
    return mailOf(message, message.body?.content ?? null);
  }

  /**
   * `POST /subscriptions` for messages created in the inbox. Graph first validates `notificationUrl` (it POSTs
   * `?validationToken=` there and wants it back within 10 s) and answers 400 when that fails; each notification then
   * carries `clientState`.
   */
  async subscribeToInbox(accessToken: string, notificationUrl: string, clientState: string, expiresAt: Date): Promise<GraphSubscription> {
    const created = await this.call<{ id: string; expirationDateTime: string }>(accessToken, '/v1.0/subscriptions', {
      method: 'POST',
      body: {
        changeType: 'created',
        notificationUrl,
        resource: INBOX_MESSAGES,
        expirationDateTime: expiresAt.toISOString(),
        clientState,
      },
    });
    return { id: created.id, expirationDateTime: new Date(created.expirationDateTime) };
  }

  /** `PATCH /subscriptions/{id}` with a later expiry. */
  async renewSubscription(accessToken: string, subscriptionId: string, expiresAt: Date): Promise<GraphSubscription> {
    const renewed = await this.call<{ id: string; expirationDateTime: string }>(
      accessToken,
      `/v1.0/subscriptions/${encodeURIComponent(subscriptionId)}`,
      { method: 'PATCH', body: { expirationDateTime: expiresAt.toISOString() } },
    );
    return { id: renewed.id, expirationDateTime: new Date(renewed.expirationDateTime) };
  }

  /** `DELETE /subscriptions/{id}`. */
  async deleteSubscription(accessToken: string, subscriptionId: string): Promise<void> {
    await this.call<undefined>(accessToken, `/v1.0/subscriptions/${encodeURIComponent(subscriptionId)}`, { method: 'DELETE' });
  }

  private call<T>(
    accessToken: string,
    path: string,
    request: { method?: 'POST' | 'PATCH' | 'DELETE'; body?: unknown; headers?: Record<string, string> } = {},
  ) {
    return callRest<T>({
      providerName: this.settings.definition.displayName,
      url: endpointOn(this.settings, `https://graph.microsoft.com${path}`),
      accessToken,
      ...request,
      timeoutMs: this.timeoutMs,
      readError: readGraphError,
      now: this.now,
    });
  }
}

function mailOf(message: GraphMessage, body: string | null): MailMessage {
  return {
    id: message.id,
    threadId: message.conversationId ?? null,
    from: message.from?.emailAddress?.address ?? null,
    to: (message.toRecipients ?? []).flatMap((recipient) => (recipient.emailAddress?.address ? [recipient.emailAddress.address] : [])),
    subject: message.subject ?? null,
    snippet: message.bodyPreview ?? null,
    receivedAt: message.receivedDateTime ? new Date(message.receivedDateTime) : null,
    body,
  };
}
