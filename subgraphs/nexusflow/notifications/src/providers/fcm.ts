import { DEFAULT_TIMEOUT_MS, parseJsonObject, postToProvider, unexpectedResponse } from './http.ts';
import type { Channel, DeliveryReceipt, OutgoingMessage, Provider, SendOptions } from './types.ts';

export interface FcmOptions {
  /** @default 'https://fcm.googleapis.com' */
  baseUrl?: string;
  projectId: string;
  /** An OAuth 2 access token with the firebase.messaging scope, obtained for a service account. */
  accessToken: string;
  /** How long one request may take before it counts as failed and retryable. @default 10000 */
  timeoutMs?: number;
}

/** Push notifications through Firebase Cloud Messaging's HTTP v1 API, addressed by registration token. */
export class FcmProvider implements Provider {
  readonly channel: Channel = 'PUSH';
  readonly name = 'fcm';
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: FcmOptions) {
    this.baseUrl = options.baseUrl ?? 'https://fcm.googleapis.com';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async send(message: OutgoingMessage, options: SendOptions): Promise<DeliveryReceipt> {
    // FCM takes no idempotency key: a retry after a lost response may show the notification twice.
    const response = await postToProvider({
      provider: this.name,
      url: `${this.baseUrl}/v1/projects/${encodeURIComponent(this.options.projectId)}/messages:send`,
      headers: { authorization: `Bearer ${this.options.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        message: { token: message.to, notification: { title: message.subject, body: message.body }, data: message.data },
      }),
      expectedStatus: 200,
      timeoutMs: this.timeoutMs,
      signal: options.signal,
      secrets: [this.options.accessToken],
    });
    const name = parseJsonObject(response.text)?.name;
    if (typeof name !== 'string' || name === '') throw unexpectedResponse(this.name, 200, 'without a message name');
    return { providerMessageId: name };
  }
}
