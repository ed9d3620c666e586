import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const REGISTER = `mutation ($input: RegisterOAuthClientInput!) { registerOAuthClient(input: $input) { client { id name } } }`;
const LIST = '{ oauthClients(first: 100) { id name secretIssuedAt } }';
const FIND = 'query ($id: ID!) { oauthClient(id: $id) { id name } }';
const ROTATE = 'mutation ($id: ID!) { rotateOAuthClientSecret(id: $id) { __typename } }';
const DELETE = 'mutation ($id: ID!) { deleteOAuthClient(id: $id) { __typename } }';
const confidential = (name: string) => ({ input: { name, clientType: 'CONFIDENTIAL', grantTypes: ['CLIENT_CREDENTIALS'] } });

/** Tenant B (a stranger) never sees, nor changes, tenant A's OAuth clients: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, REGISTER, confidential('Tenant A only'))).registerOAuthClient.client.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.oauthClients': async ({ b, data }) => {
      expect((await data(b, LIST)).oauthClients).toEqual([]);
    },
    'Query.oauthClient': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).oauthClient).toBeNull();
    },
    'Mutation.registerOAuthClient': async ({ b, data }) => {
      expect((await data(b, REGISTER, confidential('Tenant B'))).registerOAuthClient.client.name).toBe('Tenant B');
    },
    'Mutation.rotateOAuthClientSecret': async ({ b, data }, { id }) => {
      expect((await data(b, ROTATE, { id })).rotateOAuthClientSecret.__typename).toBe('OAuthClientNotFound');
    },
    'Mutation.deleteOAuthClient': async ({ b, data }, { id }) => {
      expect((await data(b, DELETE, { id })).deleteOAuthClient.__typename).toBe('OAuthClientNotFound');
    },
  },
  entities: { OAuthClient: { selection: '... on OAuthClient { id name createdAt }', id: ({ id }) => id } },
});
