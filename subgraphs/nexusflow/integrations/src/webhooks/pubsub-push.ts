import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, HttpError } from '@nexusflow/kit';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { unauthenticated } from './schemes.ts';

/** The issuers of the OIDC tokens Pub/Sub signs its pushes with. */
const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];

/** What Gmail publishes to the topic: the mailbox, and its history id after the change. */
export interface GmailNotification {
  emailAddress: string;
  historyId: string;
}

/** One push of a Pub/Sub push subscription: `{message: {data, messageId, publishTime}, subscription}`. */
export interface PubSubPush {
  messageId: string;
  publishTime: string | null;
  notification: GmailNotification;
}

export interface PubSubPushSettings {
  jwksUrl: string;
  /** The `aud` the push subscription was set up with. */
  audience: string;
  /** The service account the push subscription authenticates as: the token's `email`. */
  serviceAccount: string;
  now: () => number;
}

const badRequest = (message: string) => new HttpError(400, ErrorCode.BadRequest, message);
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Pub/Sub's authenticated push: each request carries `Authorization: Bearer <OIDC token>`, an RS256 JWT Google signs
 * with the keys it publishes at its JWKS URL, for the subscription's audience and service account (its `email`,
 * verified). Keys are fetched once and again only for a key id not seen before (jose's remote key set).
 */
export class PubSubPushVerifier {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly settings: PubSubPushSettings) {
    this.keys = createRemoteJWKSet(new URL(settings.jwksUrl), { timeoutDuration: 5000 });
  }

  async verify(headers: IncomingHttpHeaders): Promise<void> {
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(headers.authorization ?? '')?.[1];
    if (!token) throw unauthenticated('Pub/Sub pushes carry Authorization: Bearer <OIDC token>');
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, this.keys, {
        issuer: GOOGLE_ISSUERS,
        audience: this.settings.audience,
        algorithms: ['RS256'],
        currentDate: new Date(this.settings.now()),
      }));
    } catch (error) {
      // Google's keys out of reach is an outage here, not a forgery: a 503 has Pub/Sub push again later.
      if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError)) {
        throw new HttpError(503, ErrorCode.ServiceUnavailable, "Google's signing keys could not be read; try again");
      }
      throw unauthenticated(`The push's token is not valid: ${error.code}`);
    }
    if (claims.email !== this.settings.serviceAccount || claims.email_verified !== true) {
      throw unauthenticated("The push's token is not the push subscription's service account");
    }
  }
}

/** Reads a push's envelope and Gmail's notification in it (base64 JSON). */
export function parsePush(body: Buffer): PubSubPush {
  let envelope: unknown;
  try {
    envelope = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('The body must be JSON');
  }
  const message = isRecord(envelope) ? envelope.message : undefined;
  if (!isRecord(message)) throw badRequest('A Pub/Sub push is {"message": {...}, "subscription": "..."}');
  const messageId = message.messageId ?? message.message_id;
  if (typeof messageId !== 'string' || !/^[\w.:-]{1,128}$/.test(messageId)) throw badRequest('The message has no messageId');
  let notification: unknown;
  try {
    notification = JSON.parse(Buffer.from(typeof message.data === 'string' ? message.data : '', 'base64').toString('utf8'));
  } catch {
    throw badRequest("The message's data is not Gmail's notification");
  }
  if (!isRecord(notification) || typeof notification.emailAddress !== 'string' || !/^\d{1,20}$/.test(String(notification.historyId))) {
    throw badRequest("The message's data is not Gmail's notification: {emailAddress, historyId}");
  }
  const publishTime = message.publishTime ?? message.publish_time;
  return {
    messageId,
    publishTime: typeof publishTime === 'string' ? publishTime : null,
    notification: { emailAddress: notification.emailAddress.toLowerCase(), historyId: String(notification.historyId) },
  };
}
