import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Role, type DomainEvent } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { RecordedEvents } from '../../../../test/support/recorded-events.ts';
import { DATA_RECEIVED } from '../src/webhooks/deliveries.ts';
import { FakeGmail, FakeGraphMail, FakePubSub, type PushSubscription } from './support/fake-mail-providers.ts';
import type { FakeMail } from './support/fake-providers.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';
import { freePort } from './support/ports.ts';

const TOPIC = 'projects/acme-mail/topics/gmail-inbox';
const PUSH_SERVICE_ACCOUNT = 'gmail-push@acme-mail.iam.gserviceaccount.com';
const PUSH_AUDIENCE = 'https://hooks.acme.example/webhooks/apps/gmail';
const SUBSCRIPTION_MINUTES = 4200;
const HOUR_MS = 60 * 60 * 1000;

const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { id webhookUrl } ... on IntegrationConnectionFailed { message } }
}`;
const WATCH = `mutation ($id: ID!) {
  watchIntegrationMailbox(id: $id) {
    __typename
    ... on IntegrationMailboxWatch { integration { id } expiresAt renewedAt }
    ... on IntegrationActionFailed { reason message }
    ... on IntegrationNotFound { id }
  }
}`;
const ROTATE = 'mutation ($id: ID!) { rotateIntegrationWebhookSecret(id: $id) { ... on IntegrationWebhookSecret { secret } } }';
const DISCONNECT = 'mutation ($id: ID!) { disconnectIntegration(id: $id) { __typename } }';

const mail = (id: string, subject: string): FakeMail => ({
  id,
  threadId: `thread-${id}`,
  from: 'ada@example.com',
  to: ['ops@acme.example'],
  subject,
  body: `About ${subject}.`,
  receivedAt: new Date(),
});

/**
 * New-mail notifications of Gmail and Outlook integrations, against fakes of Graph's subscriptions and of Gmail's
 * watch with Pub/Sub's authenticated push: made on connecting, verified, one `integration.data.received` per new
 * message, renewed before they lapse (also after a restart), ended on disconnecting.
 */
describe('mailbox notifications', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    const clock = { now: Date.now() };
    const now = () => clock.now;
    const pubsub = new FakePubSub(now);
    const gmail = new FakeGmail('google-client', 'google-secret', pubsub, new Set([TOPIC]), now);
    const graph = new FakeGraphMail('outlook-client', 'outlook-secret', now);
    const admin = callerOf(randomUUID(), [Role.Admin]);
    let under: IntegrationsUnderTest;
    let events: RecordedEvents;
    let push: PushSubscription;
    let outlook: { id: string; webhookUrl: string };
    let gmailIntegration: { id: string; webhookUrl: string };

    beforeAll(async () => {
      await Promise.all([pubsub.start(), gmail.start(), graph.start()]);
      const port = await freePort();
      const origin = `http://127.0.0.1:${port}`;
      push = {
        name: 'projects/acme-mail/subscriptions/gmail-inbox-push',
        topic: TOPIC,
        endpoint: `${origin}/webhooks/apps/gmail`,
        audience: PUSH_AUDIENCE,
        serviceAccountEmail: PUSH_SERVICE_ACCOUNT,
      };
      pubsub.subscriptions.push(push);
      under = await startIntegrationsUnderTest(
        mode,
        'mail-notifications',
        {
          PORT: String(port),
          INTEGRATIONS_WEBHOOK_BASE_URL: origin,
          INTEGRATIONS_GMAIL_CLIENT_ID: gmail.clientId,
          INTEGRATIONS_GMAIL_CLIENT_SECRET: gmail.clientSecret,
          INTEGRATIONS_GMAIL_BASE_URL: gmail.origin,
          INTEGRATIONS_OUTLOOK_CLIENT_ID: graph.clientId,
          INTEGRATIONS_OUTLOOK_CLIENT_SECRET: graph.clientSecret,
          INTEGRATIONS_OUTLOOK_BASE_URL: graph.origin,
          INTEGRATIONS_OUTLOOK_SUBSCRIPTION_MINUTES: String(SUBSCRIPTION_MINUTES),
          INTEGRATIONS_GMAIL_PUBSUB_TOPIC: TOPIC,
          INTEGRATIONS_GMAIL_PUSH_SERVICE_ACCOUNT: PUSH_SERVICE_ACCOUNT,
          INTEGRATIONS_GMAIL_PUSH_AUDIENCE: PUSH_AUDIENCE,
          INTEGRATIONS_GOOGLE_JWKS_URL: pubsub.jwksUrl,
        },
        clock,
      );
      events = await RecordedEvents.start(under.subgraph.eventBus, [DATA_RECEIVED]);
    });

    afterAll(async () => {
      await events?.stop();
      await under?.close();
      await Promise.all([pubsub.close(), gmail.close(), graph.close()]);
    });

    async function connect(caller: Caller, provider: 'GMAIL' | 'OUTLOOK'): Promise<{ id: string; webhookUrl: string }> {
      const started = (await under.answer(caller, CONNECT, { provider })).connectIntegration as { authorizationUrl: string };
      const { code, state } = await (provider === 'GMAIL' ? gmail : graph).consent(started.authorizationUrl);
      const completed = (await under.answer(caller, COMPLETE, { state, code })).completeIntegrationConnection;
      expect(completed.__typename, JSON.stringify(completed)).toBe('Integration');
      return completed as { id: string; webhookUrl: string };
    }

    /** The `integration.data.received` payloads of an integration, once every delivery recorded so far is published. */
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

    const watchOf = async (integrationId: string) =>
      (await under.rows('select * from integration_mailbox_watches where integration_id = ?', [integrationId]))[0];

    describe('Outlook, through Microsoft Graph subscriptions', () => {
      it('subscribes to the inbox’s new messages on connecting, Graph’s validation request answered', async () => {
        outlook = await connect(admin, 'OUTLOOK');

        expect(graph.validations).toEqual([{ notificationUrl: outlook.webhookUrl, passed: true }]);
        expect(graph.created).toHaveLength(1);
        const [subscription] = graph.created;
        expect(subscription).toMatchObject({
          changeType: 'created',
          resource: "me/mailFolders('Inbox')/messages",
          notificationUrl: outlook.webhookUrl,
          clientState: expect.stringMatching(/^whsec_/),
        });
        expect(subscription!.expirationDateTime.getTime()).toBe(clock.now + SUBSCRIPTION_MINUTES * 60_000);
        expect(await watchOf(outlook.id)).toMatchObject({ provider: 'OUTLOOK', subscription_id: subscription!.id, last_error: null });
      });

      it('publishes one integration.data.received per new message, and refuses a notification with another clientState', async () => {
        expect(await graph.receiveMail(mail('AAMkAD-1', 'Quarterly numbers'))).toEqual([{ status: 202, body: expect.any(String) }]);
        const forged = await graph.notify(graph.created[0]!, 'AAMkAD-forged', 'not-the-client-state');

        expect(forged.status).toBe(401);
        expect(await publishedFor(outlook.id)).toEqual([
          expect.objectContaining({ provider: 'OUTLOOK', eventType: 'created', objectType: 'message', objectId: 'AAMkAD-1' }),
        ]);
      });

      it('renews the subscription once past half its life, and subscribes again when Graph no longer knows it', async () => {
        const { mailWatches } = under.subgraph.services;
        clock.now += 30 * HOUR_MS;
        expect(await mailWatches.renewDue()).toBe(0);

        clock.now += 6 * HOUR_MS;
        expect(await mailWatches.renewDue()).toBe(1);
        expect(graph.renewals).toEqual([
          { id: graph.created[0]!.id, expirationDateTime: new Date(clock.now + SUBSCRIPTION_MINUTES * 60_000) },
        ]);

        graph.subscriptions.clear();
        clock.now += 36 * HOUR_MS;
        expect(await mailWatches.renewDue()).toBe(1);
        expect(graph.created).toHaveLength(2);
        expect(await watchOf(outlook.id)).toMatchObject({ subscription_id: graph.created[1]!.id });
      });

      it('renews what fell due while it was stopped as soon as it starts again', async () => {
        await events.stop();
        const renewalsBefore = graph.renewals.length;
        clock.now += 36 * HOUR_MS;
        await under.restart();
        events = await RecordedEvents.start(under.subgraph.eventBus, [DATA_RECEIVED]);

        await vi.waitFor(() => expect(graph.renewals).toHaveLength(renewalsBefore + 1), { timeout: 15_000, interval: 20 });
        expect(graph.renewals.at(-1)!.id).toBe(graph.created[1]!.id);
      });

      it('lets an admin subscribe again after rotating the webhook secret, the new secret as clientState, and refuses a viewer', async () => {
        const previous = graph.created.at(-1)!;
        const { secret } = (await under.answer(admin, ROTATE, { id: outlook.id })).rotateIntegrationWebhookSecret;
        const again = (await under.answer(admin, WATCH, { id: outlook.id })).watchIntegrationMailbox;

        expect(again).toMatchObject({ __typename: 'IntegrationMailboxWatch', integration: { id: outlook.id } });
        expect(graph.deleted).toEqual([previous.id]);
        expect([...graph.subscriptions.values()]).toEqual([expect.objectContaining({ clientState: secret })]);
        const viewer = callerOf(admin.tenantId, [Role.Viewer]);
        const refused = await under.ask(viewer, WATCH, { id: outlook.id });
        expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
      });

      it('deletes the subscription at Graph on disconnecting', async () => {
        const { subscription_id: subscriptionId } = (await watchOf(outlook.id))!;
        await under.answer(admin, DISCONNECT, { id: outlook.id });

        expect(graph.deleted).toContain(subscriptionId);
        expect(graph.subscriptions.size).toBe(0);
        expect(await watchOf(outlook.id)).toBeUndefined();
      });
    });

    describe('Gmail, through users.watch and Pub/Sub pushes', () => {
      it('watches the inbox on the configured topic on connecting, and routes pushes by the mailbox’s address', async () => {
        gmailIntegration = await connect(admin, 'GMAIL');

        expect(gmail.watches).toEqual([{ topicName: TOPIC, expiration: new Date(clock.now + 7 * 24 * HOUR_MS) }]);
        const [row] = await under.rows('select account_id from integrations where id = ?', [gmailIntegration.id]);
        expect(row!.account_id).toBe(gmail.emailAddress);
      });

      it('publishes one integration.data.received per new message, and none for a push sent again', async () => {
        expect(await gmail.receiveMail(mail('18c1f0a', 'Invoice 42'))).toEqual([
          { status: 200, body: JSON.stringify({ received: 1, new: 1 }) },
        ]);
        expect(await gmail.receiveMail(mail('18c1f0b', 'Welcome aboard'))).toEqual([
          { status: 200, body: JSON.stringify({ received: 1, new: 1 }) },
        ]);
        // Pub/Sub delivers at least once: the same message again changes nothing.
        expect(await pubsub.push(pubsub.sent.at(-1)!)).toEqual({ status: 200, body: JSON.stringify({ received: 0, new: 0 }) });

        const published = await publishedFor(gmailIntegration.id);
        expect(published.map((payload) => payload.objectId).sort()).toEqual(['18c1f0a', '18c1f0b']);
        expect(published[0]).toMatchObject({
          provider: 'GMAIL',
          eventType: 'messageAdded',
          objectType: 'message',
          data: { emailAddress: gmail.emailAddress, message: { id: '18c1f0a', threadId: 'thread-18c1f0a' } },
        });
      });

      it('refuses a push without a token, or with one of another audience, service account or signer', async () => {
        const sent = pubsub.sent.at(-1)!;
        const otherSigner = new FakePubSub(now);
        await otherSigner.start();
        try {
          const answers = [
            await pubsub.push(sent, null),
            await pubsub.push(sent, 'Bearer not-a-jwt'),
            await pubsub.push(sent, `Bearer ${await pubsub.token({ ...push, audience: 'https://elsewhere.example/push' })}`),
            await pubsub.push(sent, `Bearer ${await pubsub.token({ ...push, serviceAccountEmail: 'intruder@evil.example' })}`),
            await pubsub.push(sent, `Bearer ${await otherSigner.token(push)}`),
          ];
          expect(answers.map((answer) => answer.status)).toEqual([401, 401, 401, 401, 401]);
        } finally {
          await otherSigner.close();
        }
        expect(await publishedFor(gmailIntegration.id)).toHaveLength(2);
      });

      it('renews the watch daily, keeping its place in the mailbox’s history', async () => {
        const { history_id: historyId } = (await watchOf(gmailIntegration.id))!;
        expect(historyId).toMatch(/^\d+$/);
        clock.now += 25 * HOUR_MS;
        expect(await under.subgraph.services.mailWatches.renewDue()).toBe(1);

        expect(gmail.watches).toHaveLength(2);
        expect((await watchOf(gmailIntegration.id))!.history_id).toBe(historyId);
      });

      it('stops the watch on disconnecting', async () => {
        await under.answer(admin, DISCONNECT, { id: gmailIntegration.id });

        expect(gmail.stops).toBe(1);
        expect(gmail.watching).toBeUndefined();
        expect(await watchOf(gmailIntegration.id)).toBeUndefined();
      });
    });
  });
});
