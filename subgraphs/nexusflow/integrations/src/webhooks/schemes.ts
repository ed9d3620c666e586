import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, HttpError } from '@nexusflow/kit';
import type { ProviderName } from '../domain/providers.ts';

/** How the deliveries of a provider prove where they come from (the API's IntegrationWebhookVerification). */
export type WebhookVerification = 'SLACK_SIGNATURE' | 'HUBSPOT_SIGNATURE_V3' | 'MICROSOFT_GRAPH_CLIENT_STATE' | 'SHARED_SECRET';

export function verificationOf(provider: ProviderName): WebhookVerification {
  if (provider === 'SLACK') return 'SLACK_SIGNATURE';
  if (provider === 'HUBSPOT') return 'HUBSPOT_SIGNATURE_V3';
  if (provider === 'MICROSOFT_TEAMS' || provider === 'OUTLOOK') return 'MICROSOFT_GRAPH_CLIENT_STATE';
  return 'SHARED_SECRET';
}

/** Whether deliveries are checked against a secret of the integration's own (rather than the provider app's). */
export const usesIntegrationSecret = (verification: WebhookVerification) =>
  verification === 'MICROSOFT_GRAPH_CLIENT_STATE' || verification === 'SHARED_SECRET';

/** Headers of the shared-secret kind: the secret itself, the sender's id of the delivery, and what it is. */
export const SECRET_HEADER = 'x-nexusflow-webhook-secret';
export const DELIVERY_ID_HEADER = 'x-delivery-id';
export const EVENT_TYPE_HEADER = 'x-event-type';

/** 1 to 128 letters, digits, ".", "_", ":" or "-". */
const TOKEN = /^[A-Za-z0-9._:-]{1,128}$/;

/** One event of a delivery, normalised a little: the `payload` of its `integration.data.received` event, less the ids. */
export interface ReceivedEvent {
  /** The provider's id of it, unique per integration: what refuses its replay. */
  deliveryId: string;
  /** In the provider's words: HubSpot `contact.creation`, Slack `message`, Graph `created`. */
  eventType: string;
  /** What it is about, where the provider says: HubSpot `contact`, Slack's event type, Graph's resource type (`message`). */
  objectType: string | null;
  /** The provider's id of that object, as a string. */
  objectId: string | null;
  /** When it happened at the provider (ISO-8601), where the provider says. */
  occurredAt: string | null;
  /** The provider's own data of the event, as it sent it (Graph's clientState taken out). */
  data: unknown;
}

/** What a delivery comes to: events to record, or an answer of its own (Slack's challenge, Graph's validation). */
export type Verdict = { kind: 'events'; events: ReceivedEvent[] } | { kind: 'answer'; contentType: string; body: string };

export interface InboundRequest {
  method: string;
  /** The URL as the provider called it (HubSpot signs it). */
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export const unauthenticated = (message: string) => new HttpError(401, ErrorCode.Unauthenticated, message);
const badRequest = (message: string) => new HttpError(400, ErrorCode.BadRequest, message);

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Constant time whatever the lengths: both sides are hashed to the same length first. */
export function sameSecret(expected: string, given: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('The body must be JSON');
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | null => (typeof value === 'string' || typeof value === 'number' ? String(value) : null);

function requireFresh(timestamp: number, nowMs: number, toleranceSeconds: number): void {
  if (!Number.isFinite(timestamp) || Math.abs(nowMs - timestamp) > toleranceSeconds * 1000) {
    throw unauthenticated(`The request's timestamp is more than ${toleranceSeconds} s away`);
  }
}

/**
 * Slack: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, keyed with the app's signing secret, of
 * `v0:<X-Slack-Request-Timestamp>:<raw body>`; the timestamp (Unix seconds) must be recent. Slack's `url_verification`
 * is answered with its challenge; `event_callback` deliveries carry one event, identified by `event_id`.
 */
export function verifySlack(request: InboundRequest, signingSecret: string, nowMs: number, toleranceSeconds: number): Verdict {
  const timestamp = header(request.headers, 'x-slack-request-timestamp');
  const signature = header(request.headers, 'x-slack-signature');
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || !signature) {
    throw unauthenticated('Slack requests carry X-Slack-Request-Timestamp and X-Slack-Signature');
  }
  requireFresh(Number(timestamp) * 1000, nowMs, toleranceSeconds);
  const expected = `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(request.body).digest('hex')}`;
  if (!sameSecret(expected, signature)) throw unauthenticated('The signature does not match');
  const payload = parseJson(request.body);
  if (!isRecord(payload)) throw badRequest('A Slack request is a JSON object');
  if (payload.type === 'url_verification') {
    return { kind: 'answer', contentType: 'application/json; charset=utf-8', body: JSON.stringify({ challenge: text(payload.challenge) }) };
  }
  const event = payload.event;
  const eventId = text(payload.event_id);
  // Slack's other callbacks (app_rate_limited, …) concern the app, not the tenant's data.
  if (payload.type !== 'event_callback' || !isRecord(event) || !eventId || !TOKEN.test(eventId)) return { kind: 'events', events: [] };
  const type = text(event.type) ?? 'event';
  return {
    kind: 'events',
    events: [
      {
        deliveryId: eventId,
        eventType: type,
        objectType: type,
        objectId: text(event.client_msg_id) ?? text(event.event_ts) ?? text(event.ts),
        occurredAt: typeof payload.event_time === 'number' ? new Date(payload.event_time * 1000).toISOString() : null,
        data: { teamId: text(payload.team_id), event },
      },
    ],
  };
}

/** HubSpot signs the request URI with these escapes decoded (its documentation's table). */
const HUBSPOT_DECODED: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export const hubSpotSignedUri = (url: URL) =>
  url.toString().replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (escape) => HUBSPOT_DECODED[escape.toUpperCase()]!);

/**
 * HubSpot v3: `X-HubSpot-Signature-v3` is the base64 HMAC-SHA256, keyed with the app's client secret, of
 * `<method><URI><raw body><X-HubSpot-Request-Timestamp>`, the URI as HubSpot called it; the timestamp (Unix ms) must be
 * recent. A delivery is a batch of events, each identified by `eventId`.
 */
export function verifyHubSpot(request: InboundRequest, clientSecret: string, nowMs: number, toleranceSeconds: number): Verdict {
  const timestamp = header(request.headers, 'x-hubspot-request-timestamp');
  const signature = header(request.headers, 'x-hubspot-signature-v3');
  if (!timestamp || !/^\d{1,15}$/.test(timestamp) || !signature) {
    throw unauthenticated('HubSpot requests carry X-HubSpot-Request-Timestamp and X-HubSpot-Signature-v3');
  }
  requireFresh(Number(timestamp), nowMs, toleranceSeconds);
  const expected = createHmac('sha256', clientSecret)
    .update(`${request.method}${hubSpotSignedUri(request.url)}`)
    .update(request.body)
    .update(timestamp)
    .digest('base64');
  if (!sameSecret(expected, signature)) throw unauthenticated('The signature does not match');
  const payload = parseJson(request.body);
  const events = (Array.isArray(payload) ? payload : [payload]).filter(isRecord);
  return {
    kind: 'events',
    events: events.flatMap((event) => {
      const eventId = text(event.eventId);
      if (!eventId || !TOKEN.test(eventId)) return [];
      const type = text(event.subscriptionType) ?? 'event';
      return [
        {
          deliveryId: eventId,
          eventType: type,
          objectType: type.includes('.') ? type.slice(0, type.indexOf('.')) : null,
          objectId: text(event.objectId),
          occurredAt: typeof event.occurredAt === 'number' ? new Date(event.occurredAt).toISOString() : null,
          data: event,
        },
      ];
    }),
  };
}

/**
 * Microsoft Graph change notifications. Creating a subscription, Graph first POSTs `?validationToken=…`, answered with
 * the token as text/plain. Each notification then carries the subscription's `clientState`, which must be the
 * integration's secret. A notification is identified by its `id`, or where it has none by the SHA-256 of it (Graph
 * sends a retried notification unchanged).
 */
export function verifyGraph(request: InboundRequest, clientState: string | undefined): Verdict {
  const validationToken = request.url.searchParams.get('validationToken');
  if (validationToken !== null) return { kind: 'answer', contentType: 'text/plain; charset=utf-8', body: validationToken };
  if (!clientState) throw unauthenticated('The integration has no webhook secret yet: rotateIntegrationWebhookSecret makes one');
  const payload = parseJson(request.body);
  const notifications = isRecord(payload) && Array.isArray(payload.value) ? payload.value : undefined;
  if (!notifications || !notifications.every(isRecord)) throw badRequest('A Graph notification list is {"value": [...]}');
  if (!notifications.every((notification) => sameSecret(clientState, text(notification.clientState) ?? ''))) {
    throw unauthenticated('The clientState does not match');
  }
  return {
    kind: 'events',
    events: notifications.map((notification) => {
      const { clientState: _secret, ...data } = notification;
      const resourceData = isRecord(notification.resourceData) ? notification.resourceData : {};
      const odataType = text(resourceData['@odata.type']);
      const id = text(notification.id);
      return {
        deliveryId: id && TOKEN.test(id) ? id : `sha256:${createHash('sha256').update(JSON.stringify(notification)).digest('hex')}`,
        eventType: text(notification.changeType) ?? text(notification.lifecycleEvent) ?? 'notification',
        objectType: odataType ? odataType.replace(/^#?microsoft\.graph\./i, '').toLowerCase() : null,
        objectId: text(resourceData.id),
        occurredAt: null,
        data,
      };
    }),
  };
}

/**
 * Zapier, Make and the providers without a scheme of their own: the integration's secret in `X-NexusFlow-Webhook-Secret`,
 * the sender's id of the delivery in `X-Delivery-Id`, and optionally what it is in `X-Event-Type`; the body is JSON.
 */
export function verifySharedSecret(request: InboundRequest, secret: string | undefined): Verdict {
  const given = header(request.headers, SECRET_HEADER);
  if (!secret || !given || !sameSecret(secret, given))
    throw unauthenticated(`${SECRET_HEADER} does not match the integration's webhook secret`);
  const deliveryId = header(request.headers, DELIVERY_ID_HEADER);
  if (!deliveryId || !TOKEN.test(deliveryId))
    throw badRequest(`${DELIVERY_ID_HEADER} must be 1 to 128 letters, digits, ".", "_", ":" or "-"`);
  const eventType = header(request.headers, EVENT_TYPE_HEADER);
  if (eventType !== undefined && !TOKEN.test(eventType))
    throw badRequest(`${EVENT_TYPE_HEADER} must be 1 to 128 letters, digits, ".", "_", ":" or "-"`);
  return {
    kind: 'events',
    events: [
      { deliveryId, eventType: eventType ?? 'delivery', objectType: null, objectId: null, occurredAt: null, data: parseJson(request.body) },
    ],
  };
}
