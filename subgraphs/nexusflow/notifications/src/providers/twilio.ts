import { DEFAULT_TIMEOUT_MS, parseJsonObject, postToProvider, unexpectedResponse } from './http.ts';
import type { Channel, DeliveryReceipt, OutgoingMessage, Provider, SendOptions } from './types.ts';

export interface TwilioOptions {
  /** @default 'https://api.twilio.com' */
  baseUrl?: string;
  accountSid: string;
  authToken: string;
  /** The Twilio phone number (E.164) or messaging sender every SMS comes from. */
  from: string;
  /** How long one request may take before it counts as failed and retryable. @default 10000 */
  timeoutMs?: number;
}

/** SMS through Twilio's Programmable Messaging API. */
export class TwilioProvider implements Provider {
  readonly channel: Channel = 'SMS';
  readonly name = 'twilio';
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly credentials: string;

  constructor(private readonly options: TwilioOptions) {
    this.baseUrl = options.baseUrl ?? 'https://api.twilio.com';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.credentials = Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64');
  }

  async send(message: OutgoingMessage, options: SendOptions): Promise<DeliveryReceipt> {
    const response = await postToProvider({
      provider: this.name,
      url: `${this.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(this.options.accountSid)}/Messages.json`,
      headers: {
        authorization: `Basic ${this.credentials}`,
        'content-type': 'application/x-www-form-urlencoded',
        'i-twilio-idempotency-token': options.idempotencyKey,
      },
      body: new URLSearchParams({ To: message.to, From: this.options.from, Body: message.body }).toString(),
      expectedStatus: 201,
      timeoutMs: this.timeoutMs,
      signal: options.signal,
      secrets: [this.options.authToken, this.credentials],
    });
    const sid = parseJsonObject(response.text)?.sid;
    if (typeof sid !== 'string' || sid === '') throw unexpectedResponse(this.name, 201, 'without a message sid');
    return { providerMessageId: sid };
  }
}
