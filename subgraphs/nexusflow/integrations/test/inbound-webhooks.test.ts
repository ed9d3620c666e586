import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes, testEnvironment } from '@nexusflow/kit/testing';
import { RecordedEvents } from '../../../../test/support/recorded-events.ts';
import { DATA_RECEIVED } from '../src/webhooks/deliveries.ts';
import { FakeHubSpot, FakeMicrosoft, FakeSlack } from './support/fake-providers.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';
import {
  deliver,
  graphNotifications,
  hubSpotDelivery,
  hubSpotEvent,
  slackDelivery,
  slackEvent,
  type SignedDelivery,
} from './support/provider-webhooks.ts';

const SLACK_SIGNING_SECRET = 'slack-signing-secret-8f2c1e';
const MAX_BODY_BYTES = 16 * 1024;
const TOLERANCE_SECONDS = 300;
const GRACE_MS = 24 * 3600_000;
const RETENTION_MS = 7 * 86_400_000;
const OLD_KEY = `2026-01:${'a'.repeat(40)}`;
const NEW_KEY = `2026-06:${'b'.repeat(40)}`;

const INTEGRATION = 'id provider webhookUrl webhookVerification';
const CONNECT =
  'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl state expiresAt } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { ${INTEGRATION} } ... on IntegrationConnectionFailed { message } }
}`;
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) { __typename ... on Integration { ${INTEGRATION} } }
}`;
const ROTATE = `mutation ($id: ID!) {
  rotateIntegrationWebhookSecret(id: $id) {
    __typename
    ... on IntegrationWebhookSecret { secret createdAt previousSecretExpiresAt integration { id } }
    ... on IntegrationNotFound { id }
    ... on IntegrationWebhookSignedByProvider { id message }
  }
}`;

interface ConnectedIntegration {
  id: string;
  provider: string;
  webhookUrl: string;
  webhookVerification: string;
}

/**
 * Providers' webhook deliveries to an integration's URL, on the integrations subgraph's own port: each scheme accepted
 * when signed as the provider signs, refused when forged or stale, each delivery published once as
 * `integration.data.received` however often it is sent.
 */
describe('inbound webhooks', () => {
  const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-client-secret');
  const slack = new FakeSlack('slack-client', 'slack-client-secret');
  const microsoft = new FakeMicrosoft('outlook-client', 'outlook-client-secret');
  const fakes = { HUBSPOT: hubspot, SLACK: slack, OUTLOOK: microsoft } as const;

  beforeAll(async () => {
    await Promise.all([hubspot.start(), slack.start(), microsoft.start()]);
  });

  afterAll(async () => {
    await Promise.all([hubspot.close(), slack.close(), microsoft.close()]);
  });

  describe.each(storageModes(['postgres', 'amqp']))('on $storage', ({ mode }) => {
    let under: IntegrationsUnderTest;
    let events: RecordedEvents;
    const clock = { now: Date.now() };
    const admin = callerOf(randomUUID(), [Role.Admin]);
    const integrations: Record<'HUBSPOT' | 'SLACK' | 'OUTLOOK' | 'ZAPIER', ConnectedIntegration> = {} as never;

    beforeAll(async () => {
      under = await startIntegrationsUnderTest(
        mode,
        'inbound-webhooks',
        {
          AMQP_NAMESPACE: `nf-test-inbound-webhooks-${randomUUID().slice(0, 8)}`,
          ...(mode === 'postgres' ? { AMQP_URL: testEnvironment.amqpUrl } : {}),
          INTEGRATIONS_ENCRYPTION_KEYS: OLD_KEY,
          INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
          INTEGRATIONS_WEBHOOK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS),
          INTEGRATIONS_SLACK_SIGNING_SECRET: SLACK_SIGNING_SECRET,
          ...Object.fromEntries(
            Object.entries(fakes).flatMap(([provider, fake]) => [
              [`INTEGRATIONS_${provider}_CLIENT_ID`, fake.clientId],
              [`INTEGRATIONS_${provider}_CLIENT_SECRET`, fake.clientSecret],
              [`INTEGRATIONS_${provider}_BASE_URL`, fake.origin],
            ]),
          ),
        },
        clock,
      );
      events = await RecordedEvents.start(under.subgraph.eventBus, [DATA_RECEIVED]);
      for (const provider of ['HUBSPOT', 'SLACK', 'OUTLOOK'] as const) integrations[provider] = await connect(admin, provider);
      integrations.ZAPIER = (
        await under.answer(admin, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: 'https://hooks.zapier.com/hooks/catch/1/abc/' })
      ).connectHookIntegration;
    });

    afterAll(async () => {
      await events?.stop();
      await under?.close();
    });

    async function connect(caller: Caller, provider: keyof typeof fakes): Promise<ConnectedIntegration> {
      const started = (await under.answer(caller, CONNECT, { provider })).connectIntegration as { authorizationUrl: string };
      const { code, state } = await fakes[provider].consent(started.authorizationUrl);
      const completed = (await under.answer(caller, COMPLETE, { state, code })).completeIntegrationConnection;
      expect(completed.__typename, JSON.stringify(completed)).toBe('Integration');
      return completed as ConnectedIntegration;
    }

    /** Where the test reaches an integration's webhook: the subgraph's own address, the path as the API shows it. */
    const urlOf = (integration: ConnectedIntegration) => `${under.subgraph.url}${new URL(integration.webhookUrl).pathname}`;

    async function rotateSecret(integration: ConnectedIntegration): Promise<string> {
      const rotated = (await under.answer(admin, ROTATE, { id: integration.id })).rotateIntegrationWebhookSecret;
      expect(rotated).toMatchObject({ __typename: 'IntegrationWebhookSecret', integration: { id: integration.id } });
      return rotated.secret as string;
    }

    /** Waits until every recorded delivery is published and has arrived: after it, the recorded events are final. */
    async function settled(): Promise<RecordedEvents['events']> {
      await vi.waitFor(
        async () => {
          const [counts] = await under.rows(
            `select (select count(*) from integration_webhook_deliveries where processed_at is null)
              + (select count(*) from outbox_events where published_at is null) as pending`,
          );
          expect(Number(counts!.pending)).toBe(0);
        },
        { timeout: 15_000, interval: 20 },
      );
      await events.settle();
      return events.events;
    }

    /** The payloads published for an integration, by object id: the queue's consumers publish deliveries in parallel. */
    const publishedFor = async (integrationId: string) =>
      (await settled())
        .filter((event) => event.payload.integrationId === integrationId)
        .map((event) => event.payload)
        .sort((one, other) => String(one.objectId ?? one.deliveryId).localeCompare(String(other.objectId ?? other.deliveryId)));

    const storedDeliveries = async (integrationId: string) =>
      Number(
        (await under.rows('select count(*) as count from integration_webhook_deliveries where integration_id = ?', [integrationId]))[0]!
          .count,
      );

    it('shows each integration its own webhook URL and how deliveries to it are verified', () => {
      expect(
        Object.values(integrations).map(({ provider, webhookUrl, webhookVerification }) => ({ provider, webhookUrl, webhookVerification })),
      ).toEqual([
        {
          provider: 'HUBSPOT',
          webhookUrl: expect.stringMatching(`/webhooks/integrations/${integrations.HUBSPOT.id}$`),
          webhookVerification: 'HUBSPOT_SIGNATURE_V3',
        },
        {
          provider: 'SLACK',
          webhookUrl: expect.stringMatching(`/webhooks/integrations/${integrations.SLACK.id}$`),
          webhookVerification: 'SLACK_SIGNATURE',
        },
        {
          provider: 'OUTLOOK',
          webhookUrl: expect.stringMatching(`/webhooks/integrations/${integrations.OUTLOOK.id}$`),
          webhookVerification: 'MICROSOFT_GRAPH_CLIENT_STATE',
        },
        {
          provider: 'ZAPIER',
          webhookUrl: expect.stringMatching(`/webhooks/integrations/${integrations.ZAPIER.id}$`),
          webhookVerification: 'SHARED_SECRET',
        },
      ]);
    });

    it('accepts a HubSpot batch signed with the v3 signature, publishes one event per HubSpot event, and none again for a replay', async () => {
      const url = urlOf(integrations.HUBSPOT);
      const batch = [hubSpotEvent('contact.creation', 901), hubSpotEvent('contact.propertyChange', 902)];
      const delivery = hubSpotDelivery(hubspot.clientSecret, url, batch, clock.now);

      expect(await deliver(url, delivery)).toMatchObject({ status: 200, text: JSON.stringify({ received: 2, new: 2 }) });
      expect(await deliver(url, delivery)).toMatchObject({ status: 200, text: JSON.stringify({ received: 2, new: 0 }) });
      // A new delivery repeating one of the events (HubSpot's retry of a batch) publishes only the event not seen.
      const retried = hubSpotDelivery(hubspot.clientSecret, url, [batch[0], hubSpotEvent('contact.deletion', 903)], clock.now);
      expect(await deliver(url, retried)).toMatchObject({ status: 200, text: JSON.stringify({ received: 2, new: 1 }) });

      expect(await publishedFor(integrations.HUBSPOT.id)).toEqual([
        {
          provider: 'HUBSPOT',
          integrationId: integrations.HUBSPOT.id,
          deliveryId: String(batch[0]!.eventId),
          eventType: 'contact.creation',
          objectType: 'contact',
          objectId: '901',
          occurredAt: '2026-01-01T00:00:00.000Z',
          receivedAt: new Date(clock.now).toISOString(),
          data: batch[0],
        },
        expect.objectContaining({ eventType: 'contact.propertyChange', objectId: '902' }),
        expect.objectContaining({ eventType: 'contact.deletion', objectId: '903' }),
      ]);
    });

    it('refuses HubSpot deliveries signed with another secret, for another URL, altered, or older than five minutes, recording nothing', async () => {
      const url = urlOf(integrations.HUBSPOT);
      const batch = [hubSpotEvent('contact.creation', 911)];
      const signed = hubSpotDelivery(hubspot.clientSecret, url, batch, clock.now);
      const attempts = [
        hubSpotDelivery('not-the-client-secret', url, batch, clock.now),
        hubSpotDelivery(hubspot.clientSecret, `${url}?other=1`, batch, clock.now),
        { ...signed, body: signed.body.replace('911', '912') },
        hubSpotDelivery(hubspot.clientSecret, url, batch, clock.now - (TOLERANCE_SECONDS + 1) * 1000),
        { ...signed, headers: { 'content-type': 'application/json' } },
      ];
      const before = await storedDeliveries(integrations.HUBSPOT.id);
      for (const attempt of attempts) expect((await deliver(url, attempt)).status).toBe(401);
      expect(await storedDeliveries(integrations.HUBSPOT.id)).toBe(before);
    });

    it("accepts Slack's signed events and answers its url_verification challenge; refuses a forged or stale signature", async () => {
      const url = urlOf(integrations.SLACK);
      const challenge = await deliver(
        url,
        slackDelivery(SLACK_SIGNING_SECRET, { type: 'url_verification', token: 't', challenge: 'c-3eZbrw1aBm' }, clock.now),
      );
      expect(challenge).toMatchObject({ status: 200, text: JSON.stringify({ challenge: 'c-3eZbrw1aBm' }) });

      const message = {
        type: 'message',
        channel: 'C024BE91L',
        user: 'U2147483697',
        text: 'New lead',
        ts: '1767225600.000200',
        client_msg_id: 'm-1',
      };
      const delivery = slackDelivery(SLACK_SIGNING_SECRET, slackEvent(message), clock.now);
      expect((await deliver(url, delivery)).status).toBe(200);
      expect((await deliver(url, delivery)).text).toBe(JSON.stringify({ received: 1, new: 0 }));
      expect((await deliver(url, slackDelivery('forged-secret', slackEvent(message), clock.now))).status).toBe(401);
      expect((await deliver(url, slackDelivery(SLACK_SIGNING_SECRET, slackEvent(message), clock.now - 301_000))).status).toBe(401);

      expect(await publishedFor(integrations.SLACK.id)).toEqual([
        expect.objectContaining({
          provider: 'SLACK',
          eventType: 'message',
          objectType: 'message',
          objectId: 'm-1',
          data: { teamId: 'T0001', event: message },
        }),
      ]);
    });

    it("answers Microsoft Graph's validation handshake with the token as text/plain, and accepts notifications with the integration's clientState", async () => {
      const url = urlOf(integrations.OUTLOOK);
      const token = 'Validation: Testing client application reachability for subscription Request-Id: 2e7e3d5f';
      const validation = await deliver(`${url}?validationToken=${encodeURIComponent(token)}`, { headers: {}, body: '' });
      expect(validation).toMatchObject({ status: 200, contentType: 'text/plain; charset=utf-8', text: token });

      const clientState = await rotateSecret(integrations.OUTLOOK);
      expect((await deliver(url, graphNotifications(clientState, ['AAMk-1', 'AAMk-2']))).status).toBe(202);
      expect((await deliver(url, graphNotifications(clientState, ['AAMk-1']))).text).toBe(JSON.stringify({ received: 1, new: 0 }));
      expect((await deliver(url, graphNotifications('a-guessed-client-state', ['AAMk-3']))).status).toBe(401);

      const published = await publishedFor(integrations.OUTLOOK.id);
      expect(published.map(({ eventType, objectType, objectId }) => ({ eventType, objectType, objectId }))).toEqual([
        { eventType: 'created', objectType: 'message', objectId: 'AAMk-1' },
        { eventType: 'created', objectType: 'message', objectId: 'AAMk-2' },
      ]);
      expect(JSON.stringify(published)).not.toContain(clientState);
    });

    it('accepts Zapier deliveries with the shared secret and a delivery id, once per id; refuses a wrong secret, and a rotated-out one after its grace', async () => {
      const url = urlOf(integrations.ZAPIER);
      const first = await rotateSecret(integrations.ZAPIER);
      const hook = (secret: string, deliveryId: string, payload: unknown): SignedDelivery => ({
        body: JSON.stringify(payload),
        headers: {
          'content-type': 'application/json',
          'x-nexusflow-webhook-secret': secret,
          'x-delivery-id': deliveryId,
          'x-event-type': 'row.added',
        },
      });
      expect((await deliver(url, hook(first, 'zap-1', { row: 1 }))).status).toBe(200);
      expect((await deliver(url, hook(first, 'zap-1', { row: 1 }))).text).toBe(JSON.stringify({ received: 1, new: 0 }));
      expect((await deliver(url, hook(`${first}x`, 'zap-2', { row: 2 }))).status).toBe(401);
      const rotatedAt = clock.now;
      const rotation = (await under.answer(admin, ROTATE, { id: integrations.ZAPIER.id })).rotateIntegrationWebhookSecret;
      expect(rotation.previousSecretExpiresAt).toBe(new Date(rotatedAt + GRACE_MS).toISOString());
      const second = rotation.secret as string;
      // Within the grace both verify, so that the sender can switch without losing deliveries.
      clock.now = rotatedAt + GRACE_MS - 1000;
      expect((await deliver(url, hook(first, 'zap-3', { row: 3 }))).status).toBe(200);
      expect((await deliver(url, hook(second, 'zap-4', { row: 4 }))).status).toBe(200);
      clock.now = rotatedAt + GRACE_MS;
      expect((await deliver(url, hook(first, 'zap-5', { row: 5 }))).status).toBe(401);
      expect((await deliver(url, hook(second, 'zap-6', { row: 6 }))).status).toBe(200);

      expect(
        (await publishedFor(integrations.ZAPIER.id)).map(({ deliveryId, eventType, data }) => ({ deliveryId, eventType, data })),
      ).toEqual([
        { deliveryId: 'zap-1', eventType: 'row.added', data: { row: 1 } },
        { deliveryId: 'zap-3', eventType: 'row.added', data: { row: 3 } },
        { deliveryId: 'zap-4', eventType: 'row.added', data: { row: 4 } },
        { deliveryId: 'zap-6', eventType: 'row.added', data: { row: 6 } },
      ]);
    });

    it('accepts the clientState before a rotation for the grace only, and stops the one before that at the next rotation', async () => {
      const url = urlOf(integrations.OUTLOOK);
      const first = await rotateSecret(integrations.OUTLOOK);
      const second = await rotateSecret(integrations.OUTLOOK);
      expect((await deliver(url, graphNotifications(first, ['AAMk-grace-1']))).status).toBe(202);
      expect((await deliver(url, graphNotifications(second, ['AAMk-grace-2']))).status).toBe(202);
      const third = await rotateSecret(integrations.OUTLOOK);
      expect((await deliver(url, graphNotifications(first, ['AAMk-grace-3']))).status).toBe(401);
      expect((await deliver(url, graphNotifications(second, ['AAMk-grace-4']))).status).toBe(202);
      clock.now += GRACE_MS;
      expect((await deliver(url, graphNotifications(second, ['AAMk-grace-5']))).status).toBe(401);
      expect((await deliver(url, graphNotifications(third, ['AAMk-grace-6']))).status).toBe(202);
    });

    it('keeps webhook secrets sealed at rest', async () => {
      const secret = await rotateSecret(integrations.ZAPIER);
      const [row] = await under.rows('select sealed_secret from integration_webhook_secrets where integration_id = ?', [
        integrations.ZAPIER.id,
      ]);
      expect(row!.sealed_secret).toMatch(/^v1\./);
      expect(row!.sealed_secret).not.toContain(secret.slice(6));
    });

    it('refuses an oversized body with 413, an unknown integration with 404, and methods other than POST with 405', async () => {
      const url = urlOf(integrations.HUBSPOT);
      const oversized = hubSpotDelivery(
        hubspot.clientSecret,
        url,
        [{ ...hubSpotEvent('contact.creation', 1), note: 'x'.repeat(MAX_BODY_BYTES) }],
        clock.now,
      );
      expect((await deliver(url, oversized)).status).toBe(413);
      const unknown = `${under.subgraph.url}/webhooks/integrations/${randomUUID()}`;
      expect((await deliver(unknown, hubSpotDelivery(hubspot.clientSecret, unknown, [], clock.now))).status).toBe(404);
      expect((await deliver(`${under.subgraph.url}/webhooks/integrations/not-an-id`, { headers: {}, body: '' })).status).toBe(404);
      expect((await fetch(url)).status).toBe(405);
    });

    it('tells an admin that HubSpot signs with its app secret, refuses a VIEWER a new secret, and a stranger the integration', async () => {
      expect((await under.answer(admin, ROTATE, { id: integrations.HUBSPOT.id })).rotateIntegrationWebhookSecret).toMatchObject({
        __typename: 'IntegrationWebhookSignedByProvider',
        id: integrations.HUBSPOT.id,
      });
      const viewer = callerOf(admin.tenantId, [Role.Viewer]);
      const refused = await under.ask(viewer, ROTATE, { id: integrations.ZAPIER.id });
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const stranger = callerOf(randomUUID(), [Role.Admin]);
      expect((await under.answer(stranger, ROTATE, { id: integrations.ZAPIER.id })).rotateIntegrationWebhookSecret).toEqual({
        __typename: 'IntegrationNotFound',
        id: integrations.ZAPIER.id,
      });
    });

    it('forgets delivery ids once they are older than the retention, keeps the recent ones, and still refuses their replays', async () => {
      const url = urlOf(integrations.ZAPIER);
      const secret = await rotateSecret(integrations.ZAPIER);
      const hook = (deliveryId: string): SignedDelivery => ({
        body: JSON.stringify({ deliveryId }),
        headers: { 'content-type': 'application/json', 'x-nexusflow-webhook-secret': secret, 'x-delivery-id': deliveryId },
      });
      expect((await deliver(url, hook('kept-a-week'))).status).toBe(200);
      clock.now += RETENTION_MS;
      expect((await deliver(url, hook('arrived-later'))).status).toBe(200);
      await settled();
      clock.now += 1000;

      const pruned = await under.subgraph.services.webhooks.prune();
      const left = await under.rows('select delivery_id from integration_webhook_deliveries where integration_id = ?', [
        integrations.ZAPIER.id,
      ]);
      expect(left.map((row) => row.delivery_id)).toEqual(['arrived-later']);
      expect(pruned).toBeGreaterThanOrEqual(1);
      expect((await deliver(url, hook('arrived-later'))).text).toBe(JSON.stringify({ received: 1, new: 0 }));
      expect(await under.subgraph.services.webhooks.prune()).toBe(0);
    });

    // Last: it restarts the subgraph, whose event bus the recorded events came through.
    it('re-encrypts webhook secrets with the newest key after a key rotation, and they keep working', async () => {
      const secret = await rotateSecret(integrations.ZAPIER);
      await under.restart({ INTEGRATIONS_ENCRYPTION_KEYS: `${NEW_KEY},${OLD_KEY}` });
      await vi.waitFor(
        async () => {
          const keys = await under.rows('select distinct key_id from integration_webhook_secrets');
          expect(keys.map((row) => row.key_id)).toEqual(['2026-06']);
        },
        { timeout: 10_000, interval: 20 },
      );
      const delivery: SignedDelivery = {
        body: '{}',
        headers: { 'content-type': 'application/json', 'x-nexusflow-webhook-secret': secret, 'x-delivery-id': 'after-rotation' },
      };
      expect((await deliver(urlOf(integrations.ZAPIER), delivery)).status).toBe(200);
    });
  });
});
