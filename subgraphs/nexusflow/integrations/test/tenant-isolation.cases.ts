import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const INTEGRATION = 'id provider status hookTargetUrl';
const CONNECT_HOOK = `mutation ($provider: IntegrationProvider!, $targetUrl: String!) {
  connectHookIntegration(provider: $provider, targetUrl: $targetUrl) { __typename ... on Integration { ${INTEGRATION} } }
}`;
const LIST = `{ integrations(first: 100) { ${INTEGRATION} } }`;
const FIND = `query ($id: ID!) { integration(id: $id) { ${INTEGRATION} } }`;
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
    return { id: (await data(a, CONNECT_HOOK, { provider: 'ZAPIER', targetUrl })).connectHookIntegration.id as string };
  },
  stateOfA: ({ a, data }, { id }) =>
    data(a, `query ($id: ID!) { integrations(first: 100) { ${INTEGRATION} } integration(id: $id) { id } }`, { id }),
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
    'Mutation.disconnectIntegration': async ({ b, data }, { id }) => {
      expect((await data(b, DISCONNECT, { id })).disconnectIntegration).toEqual({ __typename: 'IntegrationNotFound', id });
    },
  },
  entities: { Integration: { selection: '... on Integration { id provider status hookTargetUrl }', id: ({ id }) => id } },
});
