import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateSessionInput!) { createSession(input: $input) { id name } }';
const LIST = '{ sessions(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { session(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's sessions: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createSession.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.sessions': async ({ b, data }) => {
      expect((await data(b, LIST)).sessions).toEqual([]);
    },
    'Query.session': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).session).toBeNull();
    },
    'Mutation.createSession': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createSession.name).toBe('Tenant B');
    },
  },
  entities: { Session: { selection: '... on Session { id name createdAt }', id: ({ id }) => id } },
});
