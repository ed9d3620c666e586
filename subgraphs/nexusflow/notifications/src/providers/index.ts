import { FcmProvider, type FcmOptions } from './fcm.ts';
import { SendGridProvider, type SendGridOptions } from './sendgrid.ts';
import { TwilioProvider, type TwilioOptions } from './twilio.ts';
import type { Channel, Provider } from './types.ts';

export { FcmProvider, type FcmOptions } from './fcm.ts';
export { isRetryableStatus } from './http.ts';
export { SendGridProvider, type SendGridOptions } from './sendgrid.ts';
export { TwilioProvider, type TwilioOptions } from './twilio.ts';
export { ProviderError, type Channel, type DeliveryReceipt, type OutgoingMessage, type Provider, type SendOptions } from './types.ts';

export interface ProvidersConfig {
  sendgrid?: SendGridOptions;
  twilio?: TwilioOptions;
  fcm?: FcmOptions;
}

/** A channel whose vendor is not configured has no provider, so its messages can be refused up front. */
export function createProviders(config: ProvidersConfig): Partial<Record<Channel, Provider>> {
  const providers: Partial<Record<Channel, Provider>> = {};
  if (config.sendgrid) providers.EMAIL = new SendGridProvider(config.sendgrid);
  if (config.twilio) providers.SMS = new TwilioProvider(config.twilio);
  if (config.fcm) providers.PUSH = new FcmProvider(config.fcm);
  return providers;
}
