import { DEFAULT_TIMEOUT_MS, postToProvider, unexpectedResponse } from './http.ts';
import type { Channel, DeliveryReceipt, OutgoingMessage, Provider, SendOptions } from './types.ts';

export interface SendGridOptions {
  /** @default 'https://api.sendgrid.com' */
  baseUrl?: string;
  apiKey: string;
  /** The verified sender address every email comes from. */
  from: string;
  /** How long one request may take before it counts as failed and retryable. @default 10000 */
  timeoutMs?: number;
}

/** Email through SendGrid's v3 Mail Send API. */
export class SendGridProvider implements Provider {
  readonly channel: Channel = 'EMAIL';
  readonly name = 'sendgrid';
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: SendGridOptions) {
    this.baseUrl = options.baseUrl ?? 'https://api.sendgrid.com';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async send(message: OutgoingMessage, options: SendOptions): Promise<DeliveryReceipt> {
    const response = await postToProvider({
      provider: this.name,
      url: `${this.baseUrl}/v3/mail/send`,
      headers: { authorization: `Bearer ${this.options.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        personalizations: [{ to: [{ email: message.to }] }],
        from: { email: this.options.from },
        subject: message.subject,
        content: [{ type: 'text/plain', value: message.body }],
        // SendGrid has no idempotency header; the key travels with the message to its event webhooks instead.
        custom_args: { idempotency_key: options.idempotencyKey },
      }),
      expectedStatus: 202,
      timeoutMs: this.timeoutMs,
      signal: options.signal,
      secrets: [this.options.apiKey],
    });
    const id = response.headers.get('x-message-id');
    if (!id) throw unexpectedResponse(this.name, 202, 'without an x-message-id header');
    return { providerMessageId: id };
  }
}
