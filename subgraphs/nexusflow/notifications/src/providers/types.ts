export type Channel = 'EMAIL' | 'SMS' | 'PUSH';

export interface OutgoingMessage {
  /** An email address, a phone number in E.164 form, or an FCM registration token, by channel. */
  to: string;
  subject?: string;
  body: string;
  /** Key-value pairs handed to the receiving app; only push carries them. */
  data?: Record<string, string>;
}

export interface DeliveryReceipt {
  providerMessageId: string;
}

export interface SendOptions {
  /** Stable across retries of one delivery, so that a provider that honours it sends once. */
  idempotencyKey: string;
  signal?: AbortSignal;
}

/**
 * A delivery the provider did not accept. `retryable` tells the caller whether the same request may
 * succeed later (the provider was unreachable, slow, overloaded or rate-limiting) or never will.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export interface Provider {
  readonly channel: Channel;
  readonly name: string;
  send(message: OutgoingMessage, options: SendOptions): Promise<DeliveryReceipt>;
}
