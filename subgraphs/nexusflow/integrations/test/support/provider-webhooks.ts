import { createHmac, randomUUID } from 'node:crypto';

/**
 * Webhook deliveries as the providers make them, signed the way each documents it, for tests to send to an
 * integration's webhook URL.
 */

export interface SignedDelivery {
  headers: Record<string, string>;
  body: string;
}

/**
 * Slack (api.slack.com/authentication/verifying-requests-from-slack): `v0=` and the hex HMAC-SHA256 of
 * `v0:<timestamp>:<body>` under the app's signing secret, with the timestamp in Unix seconds.
 */
export function slackDelivery(signingSecret: string, payload: unknown, nowMs = Date.now()): SignedDelivery {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return { body, headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature } };
}

/** Slack's Events API envelope of one event. */
export function slackEvent(event: Record<string, unknown>, eventId = `Ev${randomUUID().replaceAll('-', '').slice(0, 10).toUpperCase()}`) {
  return {
    token: 'verification-token',
    team_id: 'T0001',
    api_app_id: 'A0001',
    type: 'event_callback',
    event_id: eventId,
    event_time: 1767225600,
    event,
  };
}

/**
 * HubSpot v3 (developers.hubspot.com/docs/api/webhooks/validating-requests): the base64 HMAC-SHA256 of
 * `<method><uri><body><timestamp>` under the app's client secret, with the timestamp in Unix milliseconds.
 */
export function hubSpotDelivery(clientSecret: string, uri: string, payload: unknown, nowMs = Date.now()): SignedDelivery {
  const body = JSON.stringify(payload);
  const timestamp = String(nowMs);
  const signature = createHmac('sha256', clientSecret).update(`POST${uri}${body}${timestamp}`).digest('base64');
  return {
    body,
    headers: { 'content-type': 'application/json', 'x-hubspot-request-timestamp': timestamp, 'x-hubspot-signature-v3': signature },
  };
}

/** One event of a HubSpot webhook batch, e.g. a contact created in portal 62515. */
export function hubSpotEvent(subscriptionType: string, objectId: number, eventId = Math.floor(Math.random() * 2 ** 31)) {
  return {
    eventId,
    subscriptionId: 1234,
    portalId: 62515,
    appId: 54321,
    occurredAt: 1767225600000,
    subscriptionType,
    attemptNumber: 0,
    objectId,
    changeSource: 'CRM',
    changeFlag: 'NEW',
  };
}

/** Microsoft Graph's change notifications (learn.microsoft.com/graph/change-notifications-delivery-webhooks): no signature, the subscription's clientState in each. */
export function graphNotifications(clientState: string, messageIds: string[]): SignedDelivery {
  const value = messageIds.map((id) => ({
    id: `notification-${id}`,
    subscriptionId: '7f105c7d-2dc5-4530-97cd-4e7ae6534c07',
    subscriptionExpirationDateTime: '2026-12-03T18:23:45.9356913Z',
    clientState,
    changeType: 'created',
    resource: `Users/ada@example.com/Messages/${id}`,
    tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    resourceData: { '@odata.type': '#Microsoft.Graph.Message', '@odata.id': `Users/ada@example.com/Messages/${id}`, id },
  }));
  return { body: JSON.stringify({ value }), headers: { 'content-type': 'application/json' } };
}

export interface Received {
  status: number;
  contentType: string | null;
  text: string;
}

/** POSTs a delivery as the provider would. */
export async function deliver(url: string, delivery: SignedDelivery): Promise<Received> {
  const response = await fetch(url, { method: 'POST', headers: delivery.headers, body: delivery.body });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}
