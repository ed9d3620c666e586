import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateOAuthClientInput!) { createOAuthClient(input: $input) { id name } }';
const LIST = '{ oauthClients(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { oauthClient(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's oauthClients: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createOAuthClient.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.oauthClients': async ({ b, data }) => {
      expect((await data(b, LIST)).oauthClients).toEqual([]);
    },
    'Query.oauthClient': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).oauthClient).toBeNull();
    },
    'Mutation.createOAuthClient': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createOAuthClient.name).toBe('Tenant B');
    },
  },
  entities: { OAuthClient: { selection: '... on OAuthClient { id name createdAt }', id: ({ id }) => id } },
});
