import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateUserInput!) { createUser(input: $input) { id name } }';
const LIST = '{ users(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { user(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's users: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createUser.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.users': async ({ b, data }) => {
      expect((await data(b, LIST)).users).toEqual([]);
    },
    'Query.user': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).user).toBeNull();
    },
    'Mutation.createUser': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createUser.name).toBe('Tenant B');
    },
  },
  entities: { User: { selection: '... on User { id name createdAt }', id: ({ id }) => id } },
});
