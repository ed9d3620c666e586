import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { FakeGoogle, FakeHooks, FakeMicrosoft, FakeSlack, type FakeMail } from './support/fake-providers.ts';
import { callerOf, startIntegrationsUnderTest, type Caller, type IntegrationsUnderTest } from './support/integrations-under-test.ts';

const REDIRECT_URI = 'https://app.example/integrations/callback';
const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { id } ... on IntegrationConnectionFailed { message } }
}`;
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) { __typename ... on Integration { id } ... on InvalidHookTarget { message } }
}`;
const FAILED =
  '... on IntegrationActionFailed { message reason retryable providerError retryAfterSeconds } ... on IntegrationNotFound { id }';
const POST = `mutation ($integrationId: ID!, $channel: String!, $text: String!) {
  postIntegrationMessage(integrationId: $integrationId, channel: $channel, text: $text) {
    __typename ... on IntegrationMessagePosted { integrationId provider channel messageId postedAt } ${FAILED}
  }
}`;
const SEND_TO_HOOK = `mutation ($integrationId: ID!, $payload: JSON!) {
  sendIntegrationHook(integrationId: $integrationId, payload: $payload) {
    __typename ... on IntegrationHookDelivered { integrationId provider status } ${FAILED}
  }
}`;
const MESSAGES = `query ($integrationId: ID!, $first: Int) {
  integrationMessages(integrationId: $integrationId, first: $first) {
    __typename ... on IntegrationMailMessages { integrationId messages { id threadId from to subject snippet receivedAt body } } ${FAILED}
  }
}`;
const MESSAGE = `query ($integrationId: ID!, $id: ID!) {
  integrationMessage(integrationId: $integrationId, id: $id) {
    __typename ... on IntegrationMailMessage { id threadId from to subject receivedAt body } ${FAILED}
  }
}`;

const mail = (id: string, subject: string, minutesAgo: number): FakeMail => ({
  id,
  threadId: `thread-${id}`,
  from: 'ada@example.com',
  to: ['ops@acme.example', 'sales@acme.example'],
  subject,
  body: `Hello, about ${subject.toLowerCase()}.`,
  receivedAt: new Date(Date.UTC(2026, 10, 30, 12, 0) - minutesAgo * 60_000),
});

/**
 * Posting to Slack and Teams, delivering to a Zapier hook and reading Gmail and Outlook through a tenant's
 * connections, against fakes that speak each provider's HTTP API: Slack's official Web API client runs against the
 * Slack fake, fetch against Graph's and Gmail's documented REST shapes.
 */
describe('provider actions through a tenant’s connection', () => {
  const slack = new FakeSlack('slack-client', 'slack-secret');
  const microsoft = new FakeMicrosoft('microsoft-client', 'microsoft-secret');
  const outlook = new FakeMicrosoft('outlook-client', 'outlook-secret');
  const google = new FakeGoogle('google-client', 'google-secret');
  const hooks = new FakeHooks();

  beforeAll(async () => {
    await Promise.all([slack.start(), microsoft.start(), outlook.start(), google.start(), hooks.start()]);
    outlook.mailbox.push(mail('AAMk-1', 'Quarterly numbers', 30), mail('AAMk-2', 'Offsite plans', 5));
    google.mailbox.push(mail('18c1', 'Invoice 42', 60), mail('18c2', 'Welcome aboard', 1), mail('18c3', 'Old news', 600));
  });

  afterAll(async () => {
    await Promise.all([slack.close(), microsoft.close(), outlook.close(), google.close(), hooks.close()]);
  });

  afterEach(() => {
    slack.nextAnswers.splice(0);
    microsoft.nextAnswers.splice(0);
    google.nextAnswers.splice(0);
    hooks.nextAnswers.splice(0);
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let under: IntegrationsUnderTest;
    const tenantId = randomUUID();
    const admin = callerOf(tenantId, [Role.Admin]);
    const member = callerOf(tenantId, [Role.Member]);
    const ids: Record<'SLACK' | 'MICROSOFT_TEAMS' | 'OUTLOOK' | 'GMAIL' | 'ZAPIER', string> = {
      SLACK: '',
      MICROSOFT_TEAMS: '',
      OUTLOOK: '',
      GMAIL: '',
      ZAPIER: '',
    };

    async function connect(provider: 'SLACK' | 'MICROSOFT_TEAMS' | 'OUTLOOK' | 'GMAIL', fake: FakeSlack | FakeMicrosoft | FakeGoogle) {
      const { authorizationUrl } = (await under.answer(admin, CONNECT, { provider })).connectIntegration as { authorizationUrl: string };
      const { code, state } = await fake.consent(authorizationUrl);
      const completed = (await under.answer(admin, COMPLETE, { state, code })).completeIntegrationConnection;
      if (completed.__typename !== 'Integration') throw new Error(`connecting ${provider} failed: ${completed.message}`);
      return completed.id as string;
    }

    beforeAll(async () => {
      under = await startIntegrationsUnderTest(mode, 'messaging', {
        INTEGRATIONS_REDIRECT_URI: REDIRECT_URI,
        INTEGRATIONS_SLACK_CLIENT_ID: slack.clientId,
        INTEGRATIONS_SLACK_CLIENT_SECRET: slack.clientSecret,
        INTEGRATIONS_SLACK_BASE_URL: slack.origin,
        INTEGRATIONS_MICROSOFT_TEAMS_CLIENT_ID: microsoft.clientId,
        INTEGRATIONS_MICROSOFT_TEAMS_CLIENT_SECRET: microsoft.clientSecret,
        INTEGRATIONS_MICROSOFT_TEAMS_BASE_URL: microsoft.origin,
        INTEGRATIONS_OUTLOOK_CLIENT_ID: outlook.clientId,
        INTEGRATIONS_OUTLOOK_CLIENT_SECRET: outlook.clientSecret,
        INTEGRATIONS_OUTLOOK_BASE_URL: outlook.origin,
        INTEGRATIONS_GMAIL_CLIENT_ID: google.clientId,
        INTEGRATIONS_GMAIL_CLIENT_SECRET: google.clientSecret,
        INTEGRATIONS_GMAIL_BASE_URL: google.origin,
        INTEGRATIONS_ZAPIER_BASE_URL: hooks.origin,
      });
      ids.SLACK = await connect('SLACK', slack);
      ids.MICROSOFT_TEAMS = await connect('MICROSOFT_TEAMS', microsoft);
      ids.OUTLOOK = await connect('OUTLOOK', outlook);
      ids.GMAIL = await connect('GMAIL', google);
      const hook = (await under.answer(admin, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: `${hooks.origin}/hooks/catch/123/abc/` }))
        .connectHookIntegration;
      ids.ZAPIER = hook.id as string;
    });

    afterAll(async () => {
      await under?.close();
    });

    const post = async (caller: Caller, integrationId: string, channel: string, text: string) =>
      (await under.answer(caller, POST, { integrationId, channel, text })).postIntegrationMessage;

    it('posts to a Slack channel by id or #name through chat.postMessage, as a member, and the fake Slack has the text', async () => {
      const text = `Deal closed ${randomUUID()}`;
      const posted = await post(member, ids.SLACK, '#general', text);
      expect(posted).toEqual({
        __typename: 'IntegrationMessagePosted',
        integrationId: ids.SLACK,
        provider: 'SLACK',
        channel: 'C0GENERAL',
        messageId: expect.stringMatching(/^\d+\.\d{6}$/),
        postedAt: expect.any(String),
      });
      expect(slack.messages.at(-1)).toMatchObject({ channel: 'C0GENERAL', text, ts: posted.messageId });
      expect(await post(member, ids.SLACK, 'C0GENERAL', 'again')).toMatchObject({ channel: 'C0GENERAL' });
    });

    it.each([
      { channel: 'C0NOWHERE', providerError: 'channel_not_found' },
      { channel: 'C0PRIVATE', providerError: 'not_in_channel' },
    ])('answers Slack’s ok:false $providerError as a refusal not worth retrying', async ({ channel, providerError }) => {
      const before = slack.messages.length;
      expect(await post(member, ids.SLACK, channel, 'hello')).toEqual({
        __typename: 'IntegrationActionFailed',
        message: `Slack refused the message: ${providerError}`,
        reason: 'REFUSED',
        retryable: false,
        providerError,
        retryAfterSeconds: null,
      });
      expect(slack.messages).toHaveLength(before);
    });

    it('answers Slack’s 429 as RATE_LIMITED, retryable after its Retry-After, and its internal_error as retryable', async () => {
      slack.nextAnswers.push({ status: 429, headers: { 'retry-after': '30' }, body: { ok: false, error: 'ratelimited' } });
      expect(await post(member, ids.SLACK, '#general', 'hello')).toMatchObject({
        __typename: 'IntegrationActionFailed',
        reason: 'RATE_LIMITED',
        retryable: true,
        retryAfterSeconds: 30,
      });
      slack.nextAnswers.push({ status: 200, body: { ok: false, error: 'internal_error' } });
      expect(await post(member, ids.SLACK, '#general', 'hello')).toMatchObject({
        reason: 'UNAVAILABLE',
        retryable: true,
        providerError: 'internal_error',
      });
    });

    it('refreshes a Slack token that answers token_expired, once, and posts with the new one', async () => {
      const refreshesBefore = slack.tokenRequests.filter((form) => form.get('grant_type') === 'refresh_token').length;
      const [current] = [...slack.accessTokens]
        .filter(([, issued]) => !issued.revoked)
        .map(([value]) => value)
        .slice(-1);
      slack.expired.add(current!);
      const posted = await post(member, ids.SLACK, '#general', 'after a refresh');
      expect(posted.__typename).toBe('IntegrationMessagePosted');
      expect(slack.tokenRequests.filter((form) => form.get('grant_type') === 'refresh_token')).toHaveLength(refreshesBefore + 1);
      expect(slack.messages.at(-1)).toMatchObject({ text: 'after a refresh' });
      expect(slack.messages.at(-1)!.token).not.toBe(current);
    });

    it('posts to a Teams channel and a Teams chat through Graph', async () => {
      const inChannel = await post(member, ids.MICROSOFT_TEAMS, 'team-1/19:general@thread.tacv2', 'Standup in 5');
      expect(inChannel).toMatchObject({
        __typename: 'IntegrationMessagePosted',
        provider: 'MICROSOFT_TEAMS',
        messageId: expect.any(String),
      });
      const inChat = await post(member, ids.MICROSOFT_TEAMS, '19:chat-with-ada@thread.v2', 'Hi Ada');
      expect(microsoft.posted.slice(-2)).toEqual([
        { conversation: 'team-1/19:general@thread.tacv2', content: 'Standup in 5', contentType: 'text', id: inChannel.messageId },
        { conversation: '19:chat-with-ada@thread.v2', content: 'Hi Ada', contentType: 'text', id: inChat.messageId },
      ]);
      expect(await post(member, ids.MICROSOFT_TEAMS, 'team-1/19:nowhere', 'lost')).toMatchObject({
        reason: 'REFUSED',
        retryable: false,
        providerError: 'NotFound',
      });
      microsoft.nextAnswers.push({ status: 503, body: { error: { code: 'ServiceUnavailable', message: 'Try later' } } });
      expect(await post(member, ids.MICROSOFT_TEAMS, 'team-1/19:general@thread.tacv2', 'x')).toMatchObject({
        reason: 'UNAVAILABLE',
        retryable: true,
        providerError: 'ServiceUnavailable',
      });
    });

    it('answers a Graph 401 with a refresh and one more try, and TOKEN_EXPIRED when the provider refuses the refresh', async () => {
      const issued = [...microsoft.accessTokens].filter(([, token]) => !token.revoked).map(([value]) => value);
      for (const token of issued) microsoft.expired.add(token);
      expect(await post(member, ids.MICROSOFT_TEAMS, 'team-1/19:general@thread.tacv2', 'refreshed')).toMatchObject({
        __typename: 'IntegrationMessagePosted',
      });
      for (const [token, { refreshToken }] of microsoft.accessTokens) {
        microsoft.expired.add(token);
        if (refreshToken) microsoft.revokeAtProvider(refreshToken);
      }
      expect(await post(member, ids.MICROSOFT_TEAMS, 'team-1/19:general@thread.tacv2', 'never')).toMatchObject({
        reason: 'TOKEN_EXPIRED',
        retryable: false,
      });
    });

    it('delivers a JSON payload to the Zapier hook URL, and answers 410 Gone as a refusal and 500 as retryable', async () => {
      const payload = { deal: { id: 7, amount: 1200 }, stage: 'won' };
      expect((await under.answer(member, SEND_TO_HOOK, { integrationId: ids.ZAPIER, payload })).sendIntegrationHook).toEqual({
        __typename: 'IntegrationHookDelivered',
        integrationId: ids.ZAPIER,
        provider: 'ZAPIER',
        status: 200,
      });
      expect(hooks.deliveries.at(-1)).toEqual({ path: '/hooks/catch/123/abc/', contentType: 'application/json', payload });
      hooks.nextAnswers.push({ status: 410, body: { status: 'error', message: 'gone' } }, { status: 500 });
      const gone = (await under.answer(member, SEND_TO_HOOK, { integrationId: ids.ZAPIER, payload })).sendIntegrationHook;
      expect(gone).toMatchObject({ reason: 'REFUSED', retryable: false, providerError: '410' });
      const failing = (await under.answer(member, SEND_TO_HOOK, { integrationId: ids.ZAPIER, payload })).sendIntegrationHook;
      expect(failing).toMatchObject({ reason: 'UNAVAILABLE', retryable: true });
    });

    it('lists a Gmail mailbox newest first and reads one message with its text body', async () => {
      const listed = (await under.answer(member, MESSAGES, { integrationId: ids.GMAIL, first: 2 })).integrationMessages;
      expect(listed.__typename).toBe('IntegrationMailMessages');
      expect(listed.messages).toEqual([
        {
          id: '18c2',
          threadId: 'thread-18c2',
          from: 'ada@example.com',
          to: ['ops@acme.example', 'sales@acme.example'],
          subject: 'Welcome aboard',
          snippet: 'Hello, about welcome aboard.',
          receivedAt: '2026-11-30T11:59:00.000Z',
          body: null,
        },
        expect.objectContaining({ id: '18c1', subject: 'Invoice 42' }),
      ]);
      const one = (await under.answer(member, MESSAGE, { integrationId: ids.GMAIL, id: '18c1' })).integrationMessage;
      expect(one).toMatchObject({ __typename: 'IntegrationMailMessage', id: '18c1', body: 'Hello, about invoice 42.' });
      const missing = (await under.answer(member, MESSAGE, { integrationId: ids.GMAIL, id: 'nope' })).integrationMessage;
      expect(missing).toMatchObject({ reason: 'REFUSED', retryable: false, providerError: 'NOT_FOUND' });
    });

    it('lists an Outlook mailbox through Graph and reads one message as text', async () => {
      const viewer = callerOf(tenantId, [Role.Viewer]);
      const listed = (await under.answer(viewer, MESSAGES, { integrationId: ids.OUTLOOK })).integrationMessages;
      const listedIds = (listed.messages as { id: string }[]).map((message) => message.id);
      expect(listedIds).toEqual(['AAMk-2', 'AAMk-1']);
      const one = (await under.answer(viewer, MESSAGE, { integrationId: ids.OUTLOOK, id: 'AAMk-1' })).integrationMessage;
      expect(one).toMatchObject({ subject: 'Quarterly numbers', body: 'Hello, about quarterly numbers.', threadId: 'thread-AAMk-1' });
    });

    it('refuses what the provider does not do, and another tenant’s integration is not found', async () => {
      expect(await post(member, ids.GMAIL, '#general', 'hi')).toMatchObject({ reason: 'UNSUPPORTED', retryable: false });
      expect((await under.answer(member, MESSAGES, { integrationId: ids.SLACK })).integrationMessages).toMatchObject({
        reason: 'UNSUPPORTED',
      });
      const stranger = callerOf(randomUUID(), [Role.Owner]);
      expect(await post(stranger, ids.SLACK, '#general', 'hi')).toEqual({ __typename: 'IntegrationNotFound', id: ids.SLACK });
      expect((await under.answer(stranger, MESSAGE, { integrationId: ids.GMAIL, id: '18c1' })).integrationMessage).toEqual({
        __typename: 'IntegrationNotFound',
        id: ids.GMAIL,
      });
    });

    it('refuses VIEWERs posting and hook deliveries with FORBIDDEN, and blank text with BAD_USER_INPUT', async () => {
      const viewer = callerOf(tenantId, [Role.Viewer]);
      const posting = await under.ask(viewer, POST, { integrationId: ids.SLACK, channel: '#general', text: 'hi' });
      expect(posting.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const delivering = await under.ask(viewer, SEND_TO_HOOK, { integrationId: ids.ZAPIER, payload: {} });
      expect(delivering.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const blank = await under.ask(member, POST, { integrationId: ids.SLACK, channel: '#general', text: '  ' });
      expect(blank.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'text' });
    });
  });
});
