import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { FakeHooks, FakeSlack } from './support/fake-providers.ts';
import { callerOf, startIntegrationsUnderTest, type IntegrationsUnderTest } from './support/integrations-under-test.ts';

const CONNECT = 'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { id } ... on IntegrationConnectionFailed { message } }
}`;
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) { __typename ... on Integration { id } }
}`;
const POST = `mutation ($integrationId: ID!, $channel: String!, $text: String!, $idempotencyKey: String) {
  postIntegrationMessage(integrationId: $integrationId, channel: $channel, text: $text, idempotencyKey: $idempotencyKey) {
    __typename
    ... on IntegrationMessagePosted { integrationId provider channel messageId postedAt }
    ... on IntegrationActionFailed { reason retryable }
  }
}`;
const SEND_TO_HOOK = `mutation ($integrationId: ID!, $payload: JSON!, $idempotencyKey: String) {
  sendIntegrationHook(integrationId: $integrationId, payload: $payload, idempotencyKey: $idempotencyKey) {
    __typename ... on IntegrationHookDelivered { integrationId provider status }
  }
}`;
const SAVE_CONTACT = `mutation ($input: CrmContactInput!, $matchEmail: Boolean, $idempotencyKey: String) {
  saveCrmContact(input: $input, matchEmail: $matchEmail, idempotencyKey: $idempotencyKey) { id email firstName company }
}`;
const CONTACTS = '{ crmContacts(first: 100) { nodes { id email firstName company } } }';

/**
 * Actions asked for with an idempotency key, as the workflow engine's integration step asks for them (its key is
 * `<execution id>:<step key>`): a repeat is answered with the first outcome and acts nowhere again.
 */
describe('actions under an idempotency key', () => {
  const slack = new FakeSlack('slack-client', 'slack-secret');
  const hooks = new FakeHooks();

  beforeAll(async () => {
    await Promise.all([slack.start(), hooks.start()]);
  });

  afterAll(async () => {
    await Promise.all([slack.close(), hooks.close()]);
  });

  afterEach(() => {
    slack.nextAnswers.splice(0);
  });

  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let under: IntegrationsUnderTest;
    const tenantId = randomUUID();
    const admin = callerOf(tenantId, [Role.Admin]);
    const member = callerOf(tenantId, [Role.Member]);
    let slackId: string;
    let zapierId: string;

    beforeAll(async () => {
      under = await startIntegrationsUnderTest(mode, 'action-idempotency', {
        INTEGRATIONS_SLACK_CLIENT_ID: slack.clientId,
        INTEGRATIONS_SLACK_CLIENT_SECRET: slack.clientSecret,
        INTEGRATIONS_SLACK_BASE_URL: slack.origin,
        INTEGRATIONS_ZAPIER_BASE_URL: hooks.origin,
      });
      const { authorizationUrl } = (await under.answer(admin, CONNECT, { provider: 'SLACK' })).connectIntegration;
      const { code, state } = await slack.consent(authorizationUrl as string);
      slackId = (await under.answer(admin, COMPLETE, { state, code })).completeIntegrationConnection.id as string;
      zapierId = (await under.answer(admin, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: `${hooks.origin}/hooks/catch/7/idem/` }))
        .connectHookIntegration.id as string;
    });

    afterAll(async () => {
      await under?.close();
    });

    const post = async (text: string, idempotencyKey?: string) =>
      (await under.answer(member, POST, { integrationId: slackId, channel: '#general', text, idempotencyKey })).postIntegrationMessage;

    it('posts a message once per key, answering a repeat with the message posted first', async () => {
      const text = `Deal won ${randomUUID()}`;
      const key = `${randomUUID()}:announce`;
      const first = await post(text, key);
      const repeat = await post(text, key);

      expect(first).toMatchObject({ __typename: 'IntegrationMessagePosted', provider: 'SLACK', channel: 'C0GENERAL' });
      expect(repeat).toEqual(first);
      expect(slack.messages.filter((message) => message.text === text)).toHaveLength(1);
      await post(text);
      expect(slack.messages.filter((message) => message.text === text)).toHaveLength(2);
    });

    it('posts again under a key whose earlier attempt failed at Slack, and records that one', async () => {
      const text = `After an outage ${randomUUID()}`;
      const key = `${randomUUID()}:announce`;
      slack.nextAnswers.push({ status: 500, body: 'upstream gone' });
      expect(await post(text, key)).toEqual({ __typename: 'IntegrationActionFailed', reason: 'UNAVAILABLE', retryable: true });
      const posted = await post(text, key);
      expect(posted).toMatchObject({ __typename: 'IntegrationMessagePosted' });
      expect(await post(text, key)).toEqual(posted);
      expect(slack.messages.filter((message) => message.text === text)).toHaveLength(1);
    });

    it('delivers to a hook once per key', async () => {
      const deal = randomUUID();
      const key = `${randomUUID()}:forward`;
      const send = async () =>
        (await under.answer(member, SEND_TO_HOOK, { integrationId: zapierId, payload: { deal }, idempotencyKey: key })).sendIntegrationHook;
      expect(await send()).toEqual({ __typename: 'IntegrationHookDelivered', integrationId: zapierId, provider: 'ZAPIER', status: 200 });
      expect(await send()).toEqual({ __typename: 'IntegrationHookDelivered', integrationId: zapierId, provider: 'ZAPIER', status: 200 });
      expect(hooks.deliveries.filter((delivery) => (delivery.payload as { deal?: string }).deal === deal)).toHaveLength(1);
    });

    it('upserts a contact by its email, ignoring case, and writes a contact without an email once per key', async () => {
      const save = async (input: Record<string, unknown>, options: { matchEmail?: boolean; idempotencyKey?: string } = {}) =>
        (await under.answer(member, SAVE_CONTACT, { input, ...options })).saveCrmContact;
      const email = `grace-${randomUUID().slice(0, 8)}@example.com`;
      const created = await save({ email, firstName: 'Grace' }, { matchEmail: true });
      const matched = await save({ email: email.toUpperCase(), company: 'Navy' }, { matchEmail: true });
      expect(matched).toEqual({ id: created.id, email: email.toUpperCase(), firstName: 'Grace', company: 'Navy' });
      const stranger = callerOf(randomUUID(), [Role.Member]);
      const theirs = (await under.answer(stranger, SAVE_CONTACT, { input: { email, firstName: 'Other' }, matchEmail: true }))
        .saveCrmContact;
      expect(theirs.id).not.toBe(created.id);

      const key = `${randomUUID()}:contact`;
      const first = await save({ firstName: 'Nameless' }, { idempotencyKey: key });
      const repeat = await save({ firstName: 'Nameless' }, { idempotencyKey: key });
      expect(repeat).toEqual(first);

      const contacts = (await under.answer(member, CONTACTS)).crmContacts.nodes as { id: string; email: string | null }[];
      expect(contacts.filter((contact) => contact.email?.toLowerCase() === email)).toHaveLength(1);
      expect(contacts.filter((contact) => contact.id === first.id)).toHaveLength(1);
      expect(contacts).toHaveLength(2);
    });

    it('refuses a key used for another action, and keeps each tenant’s keys apart', async () => {
      const key = `${randomUUID()}:shared`;
      await post(`first ${key}`, key);
      const reused = await under.ask(member, SAVE_CONTACT, { input: { firstName: 'x' }, idempotencyKey: key });
      expect(reused.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'idempotencyKey' });

      const viewer = callerOf(tenantId, [Role.Viewer]);
      const byViewer = await under.ask(viewer, SAVE_CONTACT, { input: { firstName: 'v' }, matchEmail: true, idempotencyKey: key });
      expect(byViewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

      const stranger = callerOf(randomUUID(), [Role.Member]);
      const theirs = (await under.answer(stranger, SAVE_CONTACT, { input: { firstName: 'Theirs' }, idempotencyKey: key })).saveCrmContact;
      expect(theirs).toMatchObject({ firstName: 'Theirs' });
    });

    it('forgets receipts older than the retention', async () => {
      const [before] = await under.rows('select count(*) as count from integration_action_receipts');
      expect(Number(before!.count)).toBeGreaterThan(0);
      expect(await under.subgraph.services.receipts.prune()).toBe(0);
      await under.rows(`update integration_action_receipts set created_at = created_at - interval '31 days'`);
      expect(await under.subgraph.services.receipts.prune()).toBe(Number(before!.count));
    });
  });
});
