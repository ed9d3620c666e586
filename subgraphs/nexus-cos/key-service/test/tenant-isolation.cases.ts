import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateTenantKeyInput!) { createTenantKey(input: $input) { id name } }';
const LIST = '{ tenantKeys(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { tenantKey(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's tenantKeys: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createTenantKey.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.tenantKeys': async ({ b, data }) => {
      expect((await data(b, LIST)).tenantKeys).toEqual([]);
    },
    'Query.tenantKey': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).tenantKey).toBeNull();
    },
    'Mutation.createTenantKey': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createTenantKey.name).toBe('Tenant B');
    },
  },
  entities: { TenantKey: { selection: '... on TenantKey { id name createdAt }', id: ({ id }) => id } },
});
