import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createDeferred, postGraphQL, storageModes } from '@nexusflow/kit/testing';
import {
  CreateWorkflowDocument,
  MarkAllNotificationsReadDocument,
  MyNotificationsDocument,
  RegisterDocument,
  RunWorkflowDocument,
  SendNotificationDocument,
  SetContactPointsDocument,
  SetNotificationPreferenceDocument,
} from '@nexusflow/web-client';
import { FakeFcm, FakeSendGrid, FakeTwilio } from '../support/fake-providers.ts';
import { RecordingServer, json } from '../support/recording-server.ts';
import { startStack, type Stack } from '../support/stack.ts';

const NOTIFICATION_RECEIVED = 'subscription { notificationReceived { id eventType title body } }';
const SET_NOTIFICATION_TEMPLATE =
  'mutation SetNotificationTemplate($input: NotificationTemplateInput!) { setNotificationTemplate(input: $input) { id } }';

/** Notifications through the gateway, with SendGrid, Twilio and Firebase faked at their HTTP APIs. */
describe('notifications through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let outside: RecordingServer;
    const sendgrid = new FakeSendGrid({ apiKey: 'SG.test-key' });
    const twilio = new FakeTwilio({ accountSid: 'AC123', authToken: 'twilio-token' });
    const fcm = new FakeFcm({ projectId: 'nexusflow-test', accessToken: 'fcm-token' });
    const clients: Client[] = [];

    async function signUp() {
      const email = `notified-${randomUUID()}@example.com`;
      const session = (
        await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
          variables: { input: { email, password: 'correct horse battery', name: 'Notified', tenantName: 'Bell Co' } },
        })
      ).data?.register;
      if (session?.__typename !== 'AuthSession') throw new Error('registration failed');
      await postGraphQL(stack.gateway.graphqlUrl, SetContactPointsDocument, {
        token: session.accessToken,
        variables: { input: { email, phone: '+4915112345678', pushToken: `device-${randomUUID()}` } },
      });
      return { token: session.accessToken, email, userId: session.user.id, tenantId: session.user.tenant.id };
    }

    /** What SendGrid accepted besides the verification email every registration sends (see password-lifecycle.test.ts). */
    const notificationEmails = () => sendgrid.accepted.filter((email) => email.subject !== 'Confirm your email address for NexusFlow');

    const inbox = async (token: string) => (await postGraphQL(stack.gateway.graphqlUrl, MyNotificationsDocument, { token })).data?.me;

    beforeAll(async () => {
      outside = await new RecordingServer().start();
      await Promise.all([sendgrid.start(), twilio.start(), fcm.start()]);
      stack = await startStack(mode, `notifications_${mode}`, {
        notifications: {
          SENDGRID_API_URL: sendgrid.url,
          SENDGRID_API_KEY: 'SG.test-key',
          TWILIO_API_URL: twilio.url,
          TWILIO_ACCOUNT_SID: 'AC123',
          TWILIO_AUTH_TOKEN: 'twilio-token',
          TWILIO_FROM: '+15005550006',
          FCM_API_URL: fcm.url,
          FCM_PROJECT_ID: 'nexusflow-test',
          FCM_ACCESS_TOKEN: 'fcm-token',
        },
      });
    });

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      await stack?.close();
      await Promise.all([outside?.close(), sendgrid.close(), twilio.close(), fcm.close()]);
    });

    it("tells a workflow's owner that a run failed: live in the app, and by email", async () => {
      const owner = await signUp();
      const client = createClient({
        url: stack.gateway.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${owner.token}` },
        retryAttempts: 0,
        lazy: false,
      });
      clients.push(client);
      const received = createDeferred<{ eventType: string; title: string; body: string }>();
      const subscribed = createDeferred();
      client.on('connected', () => subscribed.resolve());
      client.subscribe<{ notificationReceived: { eventType: string; title: string; body: string } }>(
        { query: NOTIFICATION_RECEIVED },
        { next: ({ data }) => data && received.resolve(data.notificationReceived), error: received.reject, complete: () => undefined },
      );
      await subscribed.promise;

      outside.on('/always-down', (_call, _attempt, res) => json(res, 500, { error: 'down' }));
      const created = (
        await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
          token: owner.token,
          variables: {
            input: {
              name: 'Fragile',
              steps: [{ key: 'call', type: 'http', config: { url: `${outside.url}/always-down` }, retry: { maxAttempts: 1 } }],
            },
          },
        })
      ).data?.createWorkflow;
      if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
      await postGraphQL(stack.gateway.graphqlUrl, RunWorkflowDocument, { token: owner.token, variables: { id: created.id } });

      const live = await received.promise;
      expect(live).toMatchObject({ eventType: 'workflow.execution.failed', title: 'Workflow "Fragile" failed' });
      expect(live.body).toContain('Workflow "Fragile" failed at step call');
      await expect.poll(() => notificationEmails().filter((email) => email.to === owner.email).length).toBe(1);

      const me = await inbox(owner.token);
      expect(me?.unreadNotificationCount).toBe(1);
      expect(me?.notifications?.[0]).toMatchObject({
        eventType: 'workflow.execution.failed',
        read: false,
        deliveries: [{ channel: 'EMAIL', status: 'SENT', attempts: 1 }],
      });
      expect(
        (await postGraphQL(stack.gateway.graphqlUrl, MarkAllNotificationsReadDocument, { token: owner.token })).data
          ?.markAllNotificationsRead.count,
      ).toBe(1);
      expect((await inbox(owner.token))?.unreadNotificationCount).toBe(0);
    });

    it('handles a domain event once, however often the bus delivers it', async () => {
      const owner = await signUp();
      const event = failedRunEvent(owner, { workflowName: 'Delivered twice' });
      // The marker comes after both copies and the queue hands events out in order: once the marker is handled, the second
      // copy was handed out before it, and handling a duplicate (see it recorded, stop) is a prefix of handling the
      // marker. The counts below are then final, not merely what the first copy left.
      const marker = failedRunEvent(owner, { workflowName: 'Marker' });
      await stack.notifications.eventBus.publish(event);
      await stack.notifications.eventBus.publish(event);
      await stack.notifications.eventBus.publish(marker);
      const titles = async () => (await inbox(owner.token))?.notifications?.map((notification) => notification.title).sort();
      await expect.poll(titles).toContain('Workflow "Marker" failed');

      const expected = ['Workflow "Delivered twice" failed', 'Workflow "Marker" failed'];
      expect(await titles()).toEqual(expected);
      await expect
        .poll(() =>
          notificationEmails()
            .filter((email) => email.to === owner.email)
            .map((email) => email.subject)
            .sort(),
        )
        .toEqual(expected);
    });

    /** A `workflow.execution.failed` event for `owner`'s run, as the workflows service publishes it. */
    function failedRunEvent(owner: { tenantId: string; userId: string }, extra: Record<string, unknown> = {}) {
      return {
        id: randomUUID(),
        type: 'workflow.execution.failed',
        occurredAt: new Date().toISOString(),
        tenantId: owner.tenantId,
        payload: {
          tenantId: owner.tenantId,
          ownerId: owner.userId,
          executionId: randomUUID(),
          workflowId: randomUUID(),
          stepKey: 'charge',
          error: 'card declined',
          ...extra,
        },
      };
    }

    it("names the workflow in a failed run's notification, in the app and by email", async () => {
      const owner = await signUp();
      const event = failedRunEvent(owner, { workflowName: 'Nightly invoice sync' });

      await stack.notifications.eventBus.publish(event);

      await expect
        .poll(async () => (await inbox(owner.token))?.notifications?.map(({ title, body }) => ({ title, body })))
        .toEqual([
          {
            title: 'Workflow "Nightly invoice sync" failed',
            body: `Workflow "Nightly invoice sync" failed at step charge: card declined (execution ${event.payload.executionId})`,
          },
        ]);
      await expect
        .poll(() =>
          notificationEmails()
            .filter((email) => email.to === owner.email)
            .map((email) => email.subject),
        )
        .toEqual(['Workflow "Nightly invoice sync" failed']);
    });

    it('names the workflow by its id when the event was published before events carried names', async () => {
      const owner = await signUp();
      const event = failedRunEvent(owner);

      await stack.notifications.eventBus.publish(event);

      await expect
        .poll(async () => (await inbox(owner.token))?.notifications?.[0]?.title)
        .toBe(`Workflow "${event.payload.workflowId}" failed`);
      expect((await inbox(owner.token))?.notifications?.[0]?.body).toBe(
        `Workflow "${event.payload.workflowId}" failed at step charge: card declined (execution ${event.payload.executionId})`,
      );
    });

    it("lets a tenant's own template name the workflow with {{workflowName}}", async () => {
      const owner = await signUp();
      const template = await postGraphQL(stack.gateway.graphqlUrl, SET_NOTIFICATION_TEMPLATE, {
        token: owner.token,
        variables: {
          input: {
            eventType: 'workflow.execution.failed',
            channel: 'IN_APP',
            subject: '{{workflowName}} needs you',
            body: 'Step {{stepKey}} of {{workflowName}}: {{error}}',
          },
        },
      });
      expect(template.errors).toBeUndefined();

      await stack.notifications.eventBus.publish(failedRunEvent(owner, { workflowName: 'Payroll' }));

      await expect
        .poll(async () => (await inbox(owner.token))?.notifications?.map(({ title, body }) => ({ title, body })))
        .toEqual([{ title: 'Payroll needs you', body: 'Step charge of Payroll: card declined' }]);
    });

    it('retries a delivery the provider refused for a while, and sends SMS and push by preference', async () => {
      const owner = await signUp();
      await postGraphQL(stack.gateway.graphqlUrl, SetNotificationPreferenceDocument, {
        token: owner.token,
        variables: { eventType: 'release.published', channels: ['IN_APP', 'SMS', 'PUSH'] },
      });
      twilio.failNext(2, 503);
      const sent = await postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
        token: owner.token,
        variables: {
          input: { userId: owner.userId, eventType: 'release.published', variables: { title: 'Release 4.2', body: 'Out now' } },
        },
      });
      expect(sent.data?.sendNotification.title).toBe('Release 4.2');
      // Two refusals and their backoff first: a busy machine takes longer than expect.poll's one-second default.
      await expect
        .poll(async () => (await inbox(owner.token))?.notifications?.[0]?.deliveries.map((d) => [d.channel, d.status]).sort(), {
          timeout: 15_000,
        })
        .toEqual([
          ['PUSH', 'SENT'],
          ['SMS', 'SENT'],
        ]);
      const deliveries = (await inbox(owner.token))?.notifications?.[0]?.deliveries ?? [];
      expect(deliveries.find((d) => d.channel === 'SMS')?.attempts).toBe(3);
      expect(notificationEmails().filter((email) => email.to === owner.email)).toEqual([]);
    });

    it('keeps a notification of an event type its user wants by email only out of the app, and emails its title when it has no body', async () => {
      const owner = await signUp();
      await postGraphQL(stack.gateway.graphqlUrl, SetNotificationPreferenceDocument, {
        token: owner.token,
        variables: { eventType: 'digest.ready', channels: ['EMAIL'] },
      });
      const sent = await postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
        token: owner.token,
        variables: { input: { userId: owner.userId, eventType: 'digest.ready', variables: { title: 'Your digest' } } },
      });
      expect(sent.data?.sendNotification.title).toBe('Your digest');
      // With no body given, the email says the title: SendGrid refuses an email without content.
      await expect
        .poll(() => notificationEmails().filter((email) => email.to === owner.email), { timeout: 15_000 })
        .toMatchObject([{ subject: 'Your digest', body: 'Your digest' }]);
      expect(await inbox(owner.token)).toMatchObject({ unreadNotificationCount: 0, notifications: [] });
    });

    const send = (sender: { token: string }, input: { userId: string; idempotencyKey?: string }) =>
      postGraphQL(stack.gateway.graphqlUrl, SendNotificationDocument, {
        token: sender.token,
        variables: { input: { eventType: 'release.published', variables: { title: 'Release 4.3' }, ...input } },
      });

    it('refuses, with BAD_USER_INPUT, to notify a user of another tenant, whose inbox stays empty', async () => {
      const sender = await signUp();
      const stranger = await signUp();

      const sent = await send(sender, { userId: stranger.userId });

      expect(sent.errors).toEqual([
        expect.objectContaining({
          message: 'No user with this id in your tenant',
          extensions: { code: 'BAD_USER_INPUT', field: 'userId', serviceName: 'notifications' },
        }),
      ]);
      expect(await inbox(stranger.token)).toMatchObject({ unreadNotificationCount: 0, notifications: [] });
      expect(await inbox(sender.token)).toMatchObject({ unreadNotificationCount: 0, notifications: [] });
    });

    it('never lets an idempotency key carry a notification to a user of another tenant', async () => {
      const sender = await signUp();
      const stranger = await signUp();

      const refused = await send(sender, { userId: stranger.userId, idempotencyKey: 'release-4.3' });
      const own = await send(sender, { userId: sender.userId, idempotencyKey: 'release-4.3' });
      const repeatedForTheStranger = await send(sender, { userId: stranger.userId, idempotencyKey: 'release-4.3' });

      expect(refused.errors).toEqual([
        expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', field: 'userId', serviceName: 'notifications' } }),
      ]);
      // The refusal stored nothing, so the key was still free.
      expect(own.errors).toBeUndefined();
      expect(repeatedForTheStranger.errors).toEqual([
        expect.objectContaining({ extensions: { code: 'CONFLICT', field: 'idempotencyKey', serviceName: 'notifications' } }),
      ]);
      expect((await inbox(stranger.token))?.notifications).toEqual([]);
      expect((await inbox(sender.token))?.notifications?.map((notification) => notification.id)).toEqual([own.data?.sendNotification.id]);
    });

    it('answers SERVICE_UNAVAILABLE, notifying no one, while auth cannot be reached, and notifies once it can', async () => {
      const sender = await signUp();

      stack.authForNotifications.takeDown();
      let unavailable: Awaited<ReturnType<typeof send>>;
      try {
        unavailable = await send(sender, { userId: sender.userId });
      } finally {
        stack.authForNotifications.bringUp();
      }

      expect(unavailable.errors).toEqual([
        expect.objectContaining({ extensions: { code: 'SERVICE_UNAVAILABLE', serviceName: 'notifications' } }),
      ]);
      expect((await inbox(sender.token))?.notifications).toEqual([]);
      const later = await send(sender, { userId: sender.userId });
      expect(later.errors).toBeUndefined();
      expect((await inbox(sender.token))?.notifications).toHaveLength(1);
    });
  });
});
