import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const INTEGRATION = 'id provider status hookTargetUrl';
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) { __typename ... on Integration { ${INTEGRATION} } }
}`;
const LIST = `{ integrations(first: 100) { ${INTEGRATION} } }`;
const FIND = `query ($id: ID!) { integration(id: $id) { ${INTEGRATION} } }`;
const ROTATE_WEBHOOK_SECRET = `mutation ($id: ID!) {
  rotateIntegrationWebhookSecret(id: $id) { __typename ... on IntegrationNotFound { id } ... on IntegrationWebhookSecret { secret } }
}`;
const DISCONNECT = `mutation ($id: ID!) {
  disconnectIntegration(id: $id) { __typename ... on IntegrationNotFound { id } ... on IntegrationDisconnected { id } }
}`;

/**
 * Tenant B (a stranger) never sees, nor changes, tenant A's integrations. The isolation stack configures no OAuth
 * provider, so tenant A's integration is a Zapier REST hook (which needs none), and an OAuth connection is refused for
 * want of credentials before any state exists; the OAuth states bound to their admin and tenant are proven in
 * connections.test.ts. Run by test/integration/tenant-isolation.test.ts.
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const targetUrl = `https://hooks.zapier.com/hooks/catch/1/${randomUUID()}/`;
    const id = (await data(a, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl })).connectHookIntegration.id as string;
    const contact = await data(a, 'mutation { saveCrmContact(input: { email: "a@tenant-a.example", firstName: "A" }) { id } }');
    const company = await data(a, 'mutation { saveCrmCompany(input: { name: "A Corp", domain: "tenant-a.example" }) { id } }');
    const companyId = company.saveCrmCompany.id as string;
    const deal = await data(
      a,
      'mutation ($companyId: ID!) { saveCrmDeal(input: { name: "A deal", amount: "100", companyId: $companyId }) { id } }',
      {
        companyId,
      },
    );
    return { id, contactId: contact.saveCrmContact.id as string, companyId, dealId: deal.saveCrmDeal.id as string };
  },
  stateOfA: ({ a, data }, { id }) =>
    data(
      a,
      `query ($id: ID!) {
        integrations(first: 100) { ${INTEGRATION} } integration(id: $id) { id }
        crmContacts(first: 100) { nodes { id email firstName custom } }
        crmCompanies(first: 100) { nodes { id name domain custom } }
        crmDeals(first: 100) { nodes { id name amount company { id name } } }
      }`,
      { id },
    ),
  root: {
    'Query.integrations': async ({ b, data }) => {
      expect((await data(b, LIST)).integrations).toEqual([]);
    },
    'Query.integration': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).integration).toBeNull();
    },
    // Not tenant data: every tenant sees the deployment's providers.
    'Query.integrationProviders': async ({ a, b, data }) => {
      const providers = '{ integrationProviders { provider configured } }';
      expect((await data(b, providers)).integrationProviders).toEqual((await data(a, providers)).integrationProviders);
    },
    'Mutation.connectIntegration': async ({ b, ask }) => {
      const refused = await ask(b, 'mutation { connectIntegration(provider: HUBSPOT) { state } }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    },
    'Mutation.completeIntegrationConnection': async ({ b, data }) => {
      const completed = await data(
        b,
        'mutation { completeIntegrationConnection(state: "a state of tenant A", code: "code") { __typename ... on IntegrationConnectionFailed { reason } } }',
      );
      expect(completed.completeIntegrationConnection).toEqual({ __typename: 'IntegrationConnectionFailed', reason: 'INVALID_STATE' });
    },
    'Mutation.connectHookIntegration': async ({ b, data }) => {
      const targetUrl = `https://hooks.zapier.com/hooks/catch/2/${randomUUID()}/`;
      expect((await data(b, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl })).connectHookIntegration.hookTargetUrl).toBe(targetUrl);
    },
    'Mutation.rotateIntegrationWebhookSecret': async ({ b, data }, { id }) => {
      expect((await data(b, ROTATE_WEBHOOK_SECRET, { id })).rotateIntegrationWebhookSecret).toEqual({
        __typename: 'IntegrationNotFound',
        id,
      });
    },
    'Mutation.watchIntegrationMailbox': async ({ b, data }, { id }) => {
      const watch = 'mutation ($id: ID!) { watchIntegrationMailbox(id: $id) { __typename ... on IntegrationNotFound { id } } }';
      expect((await data(b, watch, { id })).watchIntegrationMailbox).toEqual({ __typename: 'IntegrationNotFound', id });
    },
    'Mutation.disconnectIntegration': async ({ b, data }, { id }) => {
      expect((await data(b, DISCONNECT, { id })).disconnectIntegration).toEqual({ __typename: 'IntegrationNotFound', id });
    },
    'Mutation.postIntegrationMessage': async ({ b, data }, { id }) => {
      const posted = await data(
        b,
        'mutation ($id: ID!) { postIntegrationMessage(integrationId: $id, channel: "#general", text: "hi") { __typename ... on IntegrationNotFound { id } } }',
        { id },
      );
      expect(posted.postIntegrationMessage).toEqual({ __typename: 'IntegrationNotFound', id });
    },
    'Query.integrationMessages': async ({ b, data }, { id }) => {
      const listed = await data(
        b,
        'query ($id: ID!) { integrationMessages(integrationId: $id) { __typename ... on IntegrationNotFound { id } } }',
        {
          id,
        },
      );
      expect(listed.integrationMessages).toEqual({ __typename: 'IntegrationNotFound', id });
    },
    'Query.integrationMessage': async ({ b, data }, { id }) => {
      const read = await data(
        b,
        'query ($id: ID!) { integrationMessage(integrationId: $id, id: "18c9") { __typename ... on IntegrationNotFound { id } } }',
        { id },
      );
      expect(read.integrationMessage).toEqual({ __typename: 'IntegrationNotFound', id });
    },
    'Query.crmContacts': async ({ b, data }) => {
      expect((await data(b, '{ crmContacts { nodes { id } hasNextPage } }')).crmContacts).toEqual({ nodes: [], hasNextPage: false });
    },
    'Query.crmCompanies': async ({ b, data }) => {
      expect((await data(b, '{ crmCompanies { nodes { id } hasNextPage } }')).crmCompanies).toEqual({ nodes: [], hasNextPage: false });
    },
    'Query.crmDeals': async ({ b, data }) => {
      expect((await data(b, '{ crmDeals { nodes { id } hasNextPage } }')).crmDeals).toEqual({ nodes: [], hasNextPage: false });
    },
    'Mutation.saveCrmCompany': async ({ b, ask }, { companyId }) => {
      const refused = await ask(b, 'mutation ($id: ID!) { saveCrmCompany(input: { id: $id, name: "B" }) { id } }', { id: companyId });
      expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    },
    'Mutation.saveCrmDeal': async ({ b, ask }, { dealId, companyId }) => {
      const changing = await ask(b, 'mutation ($id: ID!) { saveCrmDeal(input: { id: $id, name: "B" }) { id } }', { id: dealId });
      expect(changing.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      // Nor can tenant B's deal belong to tenant A's company.
      const linking = await ask(b, 'mutation ($companyId: ID!) { saveCrmDeal(input: { name: "B", companyId: $companyId }) { id } }', {
        companyId,
      });
      expect(linking.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    },
    'Query.fieldMappings': async ({ b, data }, { id }) => {
      const mappings = await data(b, 'query ($id: ID!) { fieldMappings(integrationId: $id, objectType: CONTACT) { saved } }', { id });
      expect(mappings.fieldMappings).toBeNull();
    },
    'Query.syncConflicts': async ({ b, data }, { id }) => {
      expect((await data(b, 'query ($id: ID!) { syncConflicts(integrationId: $id) { id } }', { id })).syncConflicts).toEqual([]);
    },
    'Mutation.saveCrmContact': async ({ b, ask, data }, { contactId }) => {
      const refused = await ask(b, 'mutation ($id: ID!) { saveCrmContact(input: { id: $id, firstName: "B" }) { id } }', { id: contactId });
      expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      // Matching by email looks among the caller's own contacts only: B gets one of its own, A's stays as it is.
      const matched = await data(
        b,
        'mutation { saveCrmContact(input: { email: "a@tenant-a.example", firstName: "B" }, matchEmail: true, idempotencyKey: "k-1") { id } }',
      );
      expect(matched.saveCrmContact.id).not.toBe(contactId);
    },
    'Mutation.saveFieldMappings': async ({ b, data }, { id }) => {
      const saved = await data(
        b,
        `mutation ($id: ID!) {
          saveFieldMappings(integrationId: $id, objectType: CONTACT, mappings: [], conflictPolicy: HOLD) { __typename ... on IntegrationNotFound { id } }
        }`,
        { id },
      );
      expect(saved.saveFieldMappings).toEqual({ __typename: 'IntegrationNotFound', id });
    },
    'Mutation.syncIntegration': async ({ b, data }, { id }) => {
      const started = await data(b, 'mutation ($id: ID!) { syncIntegration(id: $id) { __typename ... on IntegrationNotFound { id } } }', {
        id,
      });
      expect(started.syncIntegration).toEqual({ __typename: 'IntegrationNotFound', id });
    },
    'Mutation.resolveSyncConflict': async ({ b, data }) => {
      const id = randomUUID();
      const resolved = await data(
        b,
        'mutation ($id: ID!) { resolveSyncConflict(id: $id, choice: PROVIDER) { __typename ... on SyncConflictNotFound { id } } }',
        { id },
      );
      expect(resolved.resolveSyncConflict).toEqual({ __typename: 'SyncConflictNotFound', id });
    },
    'Subscription.syncProgress': async ({ b, subscribe }, { id }) => {
      const refusal = await subscribe(b, 'subscription ($id: ID!) { syncProgress(integrationId: $id) { run { id } } }', { id }).next();
      expect(refusal.value?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    },
  },
  entities: { Integration: { selection: '... on Integration { id provider status hookTargetUrl }', id: ({ id }) => id } },
});
