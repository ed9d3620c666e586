import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateLoginAttemptInput!) { createLoginAttempt(input: $input) { id name } }';
const LIST = '{ loginAttempts(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { loginAttempt(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's loginAttempts: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createLoginAttempt.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.loginAttempts': async ({ b, data }) => {
      expect((await data(b, LIST)).loginAttempts).toEqual([]);
    },
    'Query.loginAttempt': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).loginAttempt).toBeNull();
    },
    'Mutation.createLoginAttempt': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createLoginAttempt.name).toBe('Tenant B');
    },
  },
  entities: { LoginAttempt: { selection: '... on LoginAttempt { id name createdAt }', id: ({ id }) => id } },
});
