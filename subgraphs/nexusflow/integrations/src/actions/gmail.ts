import { endpointOn, type ProviderSettings } from '../domain/providers.ts';
import { callRest, type ErrorReader } from './rest.ts';
import type { MailMessage } from './types.ts';

/** Google's errors: `{"error": {"code": 404, "message": "…", "status": "NOT_FOUND"}}`. */
const readGoogleError: ErrorReader = (body) => {
  const error = (body as { error?: { status?: unknown; message?: unknown } } | null)?.error;
  return {
    code: typeof error?.status === 'string' ? error.status : null,
    message: typeof error?.message === 'string' ? error.message : null,
  };
};

interface GmailPart {
  mimeType?: string;
  headers?: { name: string; value: string }[];
  body?: { data?: string };
  parts?: GmailPart[];
}

interface GmailMessage {
  id: string;
  threadId?: string;
  snippet?: string;
  internalDate?: string;
  payload?: GmailPart;
}

const LIST_HEADERS = ['From', 'To', 'Subject'];

/** What `users.watch` answers: the mailbox's history id now, and when the watch ends (ms since the epoch, as a string). */
export interface GmailWatch {
  historyId: string;
  expiration: Date;
}

/** A message `users.history.list` reports added to the mailbox. */
export interface GmailAddedMessage {
  id: string;
  threadId: string | null;
  labelIds: string[];
}

interface GmailHistoryPage {
  history?: { id: string; messagesAdded?: { message: { id: string; threadId?: string; labelIds?: string[] } }[] }[];
  historyId?: string;
  nextPageToken?: string;
}

/** history.list pages read per notification at most; a mailbox further behind is caught up by the next one. */
const MAX_HISTORY_PAGES = 20;

/**
 * The Gmail API v1 over its documented REST shapes with fetch: `users.messages.list` gives ids only, so each listed
 * message is read with `format=metadata`; one message with `format=full`, its text/plain part decoded; and the push
 * notifications of new mail (`users.watch`, `users.stop`, `users.history.list`). googleapis, the official client, is a
 * large generated package for every Google API; these are a handful of requests.
 */
export class Gmail {
  constructor(
    private readonly settings: ProviderSettings,
    private readonly timeoutMs: number,
    private readonly now: () => number,
  ) {}

  async listMail(accessToken: string, first: number): Promise<MailMessage[]> {
    const page = await this.call<{ messages?: { id: string }[] }>(
      accessToken,
      `messages?${new URLSearchParams({ maxResults: String(first) })}`,
    );
    const query = new URLSearchParams({ format: 'metadata' });
    for (const header of LIST_HEADERS) query.append('metadataHeaders', header);
    const messages = await Promise.all(
      (page.messages ?? []).map(({ id }) => this.call<GmailMessage>(accessToken, `messages/${encodeURIComponent(id)}?${query}`)),
    );
    return messages.map((message) => mailOf(message, null));
  }

  async getMail(accessToken: string, id: string): Promise<MailMessage> {
    const message = await this.call<GmailMessage>(accessToken, `messages/${encodeURIComponent(id)}?format=full`);
    return mailOf(message, message.payload ? plainTextOf(message.payload) : null);
  }

  /** The mailbox's address (`users.getProfile`): what Gmail's push notifications name it by. */
  async emailAddress(accessToken: string): Promise<string> {
    return (await this.call<{ emailAddress: string }>(accessToken, 'profile')).emailAddress;
  }

  /** `users.watch`: new mail in the inbox is published to the Pub/Sub topic (`projects/<project>/topics/<topic>`). */
  async watch(accessToken: string, topicName: string): Promise<GmailWatch> {
    const answer = await this.call<{ historyId: string; expiration: string }>(accessToken, 'watch', {
      method: 'POST',
      body: { topicName, labelIds: ['INBOX'], labelFilterBehavior: 'INCLUDE' },
    });
    return { historyId: String(answer.historyId), expiration: new Date(Number(answer.expiration)) };
  }

  /** `users.stop`: no more notifications for this mailbox. */
  async stop(accessToken: string): Promise<void> {
    await this.call<undefined>(accessToken, 'stop', { method: 'POST' });
  }

  /**
   * The messages added to the inbox after `startHistoryId` (`users.history.list`, `historyTypes=messageAdded`), and the
   * history id to start from next time. A start too old for Gmail to remember is answered 404 by Gmail.
   */
  async messagesAddedSince(accessToken: string, startHistoryId: string): Promise<{ messages: GmailAddedMessage[]; historyId: string }> {
    const messages = new Map<string, GmailAddedMessage>();
    let historyId = startHistoryId;
    let lastRecordId = startHistoryId;
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_HISTORY_PAGES; page += 1) {
      const query = new URLSearchParams({ startHistoryId, historyTypes: 'messageAdded', labelId: 'INBOX' });
      if (pageToken) query.set('pageToken', pageToken);
      const answer = await this.call<GmailHistoryPage>(accessToken, `history?${query}`);
      for (const record of answer.history ?? []) {
        lastRecordId = String(record.id);
        for (const { message } of record.messagesAdded ?? []) {
          messages.set(message.id, { id: message.id, threadId: message.threadId ?? null, labelIds: message.labelIds ?? [] });
        }
      }
      if (answer.historyId) historyId = String(answer.historyId);
      pageToken = answer.nextPageToken;
      if (!pageToken) break;
    }
    // Cut short: the next notification goes on from the last record read, not from the mailbox's newest.
    return { messages: [...messages.values()], historyId: pageToken ? lastRecordId : historyId };
  }

  private call<T>(accessToken: string, path: string, request: { method?: 'POST'; body?: unknown } = {}) {
    return callRest<T>({
      providerName: 'Gmail',
      url: endpointOn(this.settings, `https://gmail.googleapis.com/gmail/v1/users/me/${path}`),
      accessToken,
      ...request,
      timeoutMs: this.timeoutMs,
      readError: readGoogleError,
      now: this.now,
    });
  }
}

function mailOf(message: GmailMessage, body: string | null): MailMessage {
  const header = (name: string) =>
    message.payload?.headers?.find((candidate) => candidate.name.toLowerCase() === name.toLowerCase())?.value;
  const to = header('To');
  return {
    id: message.id,
    threadId: message.threadId ?? null,
    from: header('From') ?? null,
    to: to
      ? to
          .split(',')
          .map((address) => address.trim())
          .filter((address) => address !== '')
      : [],
    subject: header('Subject') ?? null,
    snippet: message.snippet ?? null,
    receivedAt: message.internalDate ? new Date(Number(message.internalDate)) : null,
    body,
  };
}

/** The first text/plain part, depth first; its data is base64url. */
function plainTextOf(part: GmailPart): string | null {
  if (part.mimeType === 'text/plain' && part.body?.data) return Buffer.from(part.body.data, 'base64url').toString('utf8');
  for (const child of part.parts ?? []) {
    const text = plainTextOf(child);
    if (text !== null) return text;
  }
  return null;
}
