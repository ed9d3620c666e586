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

/**
 * The Gmail API v1 over its documented REST shapes with fetch: `users.messages.list` gives ids only, so each listed
 * message is read with `format=metadata`; one message with `format=full`, its text/plain part decoded. googleapis,
 * the official client, is a large generated package for every Google API; these are two requests.
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

  private call<T>(accessToken: string, path: string) {
    return callRest<T>({
      providerName: 'Gmail',
      url: endpointOn(this.settings, `https://gmail.googleapis.com/gmail/v1/users/me/${path}`),
      accessToken,
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
