import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';
import { FakeHubSpot } from './support/fake-providers.ts';

const INTEGRATION = 'id provider kind status accountLabel hookTargetUrl lastSyncAt counts { syncedRecords heldConflicts }';
const PROVIDERS = '{ integrationProviders { provider configured connectsBy } }';
const CONNECT =
  'mutation ($provider: IntegrationProvider!) { connectIntegration(provider: $provider) { authorizationUrl state expiresAt } }';
const COMPLETE = `mutation ($state: String!, $code: String!) {
  completeIntegrationConnection(state: $state, code: $code) { __typename ... on Integration { ${INTEGRATION} } ... on IntegrationConnectionFailed { reason } }
}`;
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) { __typename ... on Integration { ${INTEGRATION} } ... on InvalidHookTarget { targetUrl } }
}`;
const DISCONNECT = `mutation ($id: ID!) {
  disconnectIntegration(id: $id) { __typename ... on IntegrationDisconnected { id revokedAtProvider } ... on IntegrationNotFound { id } }
}`;
const WATCH_MAILBOX = `mutation ($id: ID!) {
  watchIntegrationMailbox(id: $id) { __typename ... on IntegrationActionFailed { reason } ... on IntegrationMailboxWatch { expiresAt } }
}`;
const LIST = `{ integrations { ${INTEGRATION} } }`;
const FIND = `query ($id: ID!) { integration(id: $id) { ${INTEGRATION} } }`;

describe('the integrations subgraph through the nexusflow gateway', () => {
  const hubspot = new FakeHubSpot('hubspot-client', 'hubspot-secret');
  let graph: GraphUnderTest;

  beforeAll(async () => {
    await hubspot.start();
    graph = await startGraphUnderTest('nexusflow', ['integrations'], {
      label: 'integrations_gateway',
      settings: {
        integrations: {
          INTEGRATIONS_HUBSPOT_CLIENT_ID: hubspot.clientId,
          INTEGRATIONS_HUBSPOT_CLIENT_SECRET: hubspot.clientSecret,
          INTEGRATIONS_HUBSPOT_BASE_URL: hubspot.origin,
        },
      },
    });
  });

  afterAll(async () => {
    await graph?.close();
    await hubspot.close();
  });

  const send = async (roles: Role[], identity: { tenantId: string; userId: string }, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
      token: await graph.tokenFor({ kind: 'user', ...identity, roles }),
      variables,
    });

  it('connects HubSpot through its OAuth flow, lists and finds it, and disconnects it, revoking its grant', async () => {
    const admin = { tenantId: randomUUID(), userId: randomUUID() };
    const providers = (await send([Role.Viewer], admin, PROVIDERS)).data?.integrationProviders;
    expect(providers).toContainEqual({ provider: 'HUBSPOT', configured: true, connectsBy: 'OAUTH' });
    expect(providers).toContainEqual({ provider: 'SLACK', configured: false, connectsBy: 'OAUTH' });

    const started = (await send([Role.Admin], admin, CONNECT, { provider: 'HUBSPOT' })).data?.connectIntegration;
    const { code, state } = await hubspot.consent(started.authorizationUrl);
    const connected = (await send([Role.Admin], admin, COMPLETE, { state, code })).data?.completeIntegrationConnection;
    expect(connected).toMatchObject({
      __typename: 'Integration',
      provider: 'HUBSPOT',
      kind: 'CRM',
      status: 'CONNECTED',
      accountLabel: hubspot.hubDomain,
    });
    const { __typename, ...integration } = connected;

    const viewer = { tenantId: admin.tenantId, userId: randomUUID() };
    expect((await send([Role.Viewer], viewer, LIST)).data).toEqual({ integrations: [integration] });
    expect((await send([Role.Viewer], viewer, FIND, { id: integration.id })).data).toEqual({ integration });

    const disconnected = (await send([Role.Owner], admin, DISCONNECT, { id: integration.id })).data?.disconnectIntegration;
    expect(disconnected).toEqual({ __typename: 'IntegrationDisconnected', id: integration.id, revokedAtProvider: true });
    expect(hubspot.revoked).toHaveLength(1);
    expect((await send([Role.Viewer], viewer, LIST)).data).toEqual({ integrations: [] });
  });

  it('connects Zapier by a REST hook', async () => {
    const admin = { tenantId: randomUUID(), userId: randomUUID() };
    const targetUrl = 'https://hooks.zapier.com/hooks/catch/42/zap/';
    const connected = (await send([Role.Admin], admin, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl })).data?.connectHookIntegration;
    expect(connected).toMatchObject({ __typename: 'Integration', provider: 'ZAPIER', kind: 'WEBHOOK', hookTargetUrl: targetUrl });
    // Only mailboxes have new mail to watch for (mail-notifications.test.ts watches Gmail and Outlook).
    const watched = (await send([Role.Admin], admin, WATCH_MAILBOX, { id: connected.id })).data?.watchIntegrationMailbox;
    expect(watched).toEqual({ __typename: 'IntegrationActionFailed', reason: 'UNSUPPORTED' });
  });

  it('refuses a VIEWER every connection change with FORBIDDEN at the gateway, and a request without a token with UNAUTHENTICATED', async () => {
    const viewer = { tenantId: randomUUID(), userId: randomUUID() };
    const attempts = [
      await send([Role.Viewer], viewer, CONNECT, { provider: 'HUBSPOT' }),
      await send([Role.Viewer], viewer, COMPLETE, { state: 'state', code: 'code' }),
      await send([Role.Viewer], viewer, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl: 'https://hooks.zapier.com/hooks/catch/1/a/' }),
      await send([Role.Member], viewer, DISCONNECT, { id: randomUUID() }),
      await send([Role.Viewer], viewer, WATCH_MAILBOX, { id: randomUUID() }),
    ];
    expect(attempts.map((attempt) => attempt.errors?.map((error) => error.extensions?.code))).toEqual([
      ['FORBIDDEN'],
      ['FORBIDDEN'],
      ['FORBIDDEN'],
      ['FORBIDDEN'],
      ['FORBIDDEN'],
    ]);
    const anonymous = await postGraphQL(graph.gateway.graphqlUrl, LIST);
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});
