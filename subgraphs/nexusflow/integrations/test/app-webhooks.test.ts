import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Role, type DomainEvent } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { RecordedEvents } from '../../../../test/support/recorded-events.ts';
import { HUBSPOT_APP_PATH, SLACK_APP_PATH } from '../src/webhooks/app-webhooks.ts';
import { DATA_RECEIVED } from '../src/webhooks/deliveries.ts';
import { GMAIL_PUSH_PATH } from '../src/webhooks/mail-watches.ts';
import { FakeHubSpot, FakeSlack } from './support/fake-providers.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';
import { deliver, hubSpotDelivery, hubSpotEvent, slackDelivery, slackEvent } from './support/provider-webhooks.ts';

const SLACK_SIGNING_SECRET = 'slack-signing-secret-app-level';
const UNKNOWN_PORTAL = 99_999;

const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { id } ... on IntegrationConnectionFailed { message } }
}`;

/**
 * The app-level webhooks Slack's Events API and HubSpot's app webhooks call for every installation: verified with the
 * app's secret and routed to the integration of the account each event names (Slack's team, HubSpot's portal), events
 * of unknown accounts answered 200 and dropped. Each integration's own URL keeps working beside them.
 */
describe('app-level webhooks', () => {
  const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-app-secret');
  const slack = new FakeSlack('slack-client', 'slack-client-secret');

  beforeAll(async () => {
    await Promise.all([hubspot.start(), slack.start()]);
  });

  afterAll(async () => {
    await Promise.all([hubspot.close(), slack.close()]);
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    const clock = { now: Date.now() };
    const admin = callerOf(randomUUID(), [Role.Admin]);
    let under: IntegrationsUnderTest;
    let events: RecordedEvents;
    const integrationIds = { SLACK: '', HUBSPOT: '' };

    beforeAll(async () => {
      under = await startIntegrationsUnderTest(
        mode,
        'app-webhooks',
        {
          INTEGRATIONS_SLACK_SIGNING_SECRET: SLACK_SIGNING_SECRET,
          INTEGRATIONS_SLACK_CLIENT_ID: slack.clientId,
          INTEGRATIONS_SLACK_CLIENT_SECRET: slack.clientSecret,
          INTEGRATIONS_SLACK_BASE_URL: slack.origin,
          INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
          INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
          INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
        },
        clock,
      );
      events = await RecordedEvents.start(under.subgraph.eventBus, [DATA_RECEIVED]);
      integrationIds.SLACK = await connect(admin, 'SLACK');
      integrationIds.HUBSPOT = await connect(admin, 'HUBSPOT');
    });

    afterAll(async () => {
      await events?.stop();
      await under?.close();
    });

    async function connect(caller: Caller, provider: 'SLACK' | 'HUBSPOT'): Promise<string> {
      const started = (await under.answer(caller, CONNECT, { provider })).connectIntegration as { authorizationUrl: string };
      const { code, state } = await (provider === 'SLACK' ? slack : hubspot).consent(started.authorizationUrl);
      const completed = (await under.answer(caller, COMPLETE, { state, code })).completeIntegrationConnection;
      expect(completed.__typename, JSON.stringify(completed)).toBe('Integration');
      return completed.id as string;
    }

    const urlOf = (path: string) => `${under.subgraph.url}${path}`;

    async function publishedFor(integrationId: string): Promise<DomainEvent['payload'][]> {
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
      return events.events.filter((event) => event.payload.integrationId === integrationId).map((event) => event.payload);
    }

    it('records each connected account’s id, by which app-level events are routed', async () => {
      const rows = await under.rows('select provider, account_id from integrations order by provider');
      expect(rows).toEqual([
        { provider: 'HUBSPOT', account_id: String(hubspot.hubId) },
        { provider: 'SLACK', account_id: slack.team.id },
      ]);
    });

    it('answers Slack’s url_verification challenge at the app-level Request URL', async () => {
      const challenge = slackDelivery(
        SLACK_SIGNING_SECRET,
        { token: 'verification-token', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' },
        clock.now,
      );
      expect(await deliver(urlOf(SLACK_APP_PATH), challenge)).toMatchObject({
        status: 200,
        text: JSON.stringify({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' }),
      });
    });

    it('routes Slack events by team_id, drops an unknown team’s with 200, and refuses a forged signature', async () => {
      const known = {
        ...slackEvent({ type: 'message', channel: 'C024BE91L', text: 'hello', ts: '1767225600.000100' }),
        team_id: slack.team.id,
      };
      const unknown = {
        ...slackEvent({ type: 'message', channel: 'C99', text: 'elsewhere', ts: '1767225601.000100' }),
        team_id: 'T0STRANGER',
      };

      expect(await deliver(urlOf(SLACK_APP_PATH), slackDelivery(SLACK_SIGNING_SECRET, known, clock.now))).toMatchObject({
        status: 200,
        text: JSON.stringify({ received: 1, new: 1 }),
      });
      expect(await deliver(urlOf(SLACK_APP_PATH), slackDelivery(SLACK_SIGNING_SECRET, known, clock.now))).toMatchObject({
        status: 200,
        text: JSON.stringify({ received: 1, new: 0 }),
      });
      expect(await deliver(urlOf(SLACK_APP_PATH), slackDelivery(SLACK_SIGNING_SECRET, unknown, clock.now))).toMatchObject({
        status: 200,
        text: JSON.stringify({ received: 1, new: 0 }),
      });
      const forged = slackDelivery('not-the-signing-secret', known, clock.now);
      expect((await deliver(urlOf(SLACK_APP_PATH), forged)).status).toBe(401);

      expect(await publishedFor(integrationIds.SLACK)).toEqual([
        expect.objectContaining({
          provider: 'SLACK',
          deliveryId: known.event_id,
          eventType: 'message',
          data: expect.objectContaining({ teamId: slack.team.id }),
        }),
      ]);
      expect(events.events).toHaveLength(1);
    });

    it('routes a HubSpot batch by each event’s portalId, dropping those of a portal no integration has', async () => {
      const url = urlOf(HUBSPOT_APP_PATH);
      const batch = [
        hubSpotEvent('contact.creation', 501),
        { ...hubSpotEvent('contact.creation', 502), portalId: UNKNOWN_PORTAL },
        hubSpotEvent('contact.propertyChange', 503),
      ];
      expect(await deliver(url, hubSpotDelivery(hubspot.clientSecret, url, batch, clock.now))).toMatchObject({
        status: 200,
        text: JSON.stringify({ received: 3, new: 2 }),
      });
      expect((await deliver(url, hubSpotDelivery('a-guessed-secret', url, batch, clock.now))).status).toBe(401);

      const published = await publishedFor(integrationIds.HUBSPOT);
      expect(published.map((payload) => payload.objectId).sort()).toEqual(['501', '503']);
    });

    it('keeps each integration’s own webhook URL working beside the app-level one', async () => {
      const url = urlOf(`/webhooks/integrations/${integrationIds.HUBSPOT}`);
      const delivery = hubSpotDelivery(hubspot.clientSecret, url, [hubSpotEvent('contact.deletion', 504)], clock.now);
      expect(await deliver(url, delivery)).toMatchObject({ status: 200, text: JSON.stringify({ received: 1, new: 1 }) });
      expect((await publishedFor(integrationIds.HUBSPOT)).map((payload) => payload.objectId).sort()).toEqual(['501', '503', '504']);
    });

    it('refuses Gmail pushes with SERVICE_UNAVAILABLE, naming what to set, when no Pub/Sub topic is configured', async () => {
      const response = await deliver(urlOf(GMAIL_PUSH_PATH), { headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(response.status).toBe(503);
      expect(response.text).toContain('INTEGRATIONS_GMAIL_PUBSUB_TOPIC');
    });
  });
});
