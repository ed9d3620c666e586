import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { id name } }';
const LIST = '{ payments(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { payment(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's payments: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createPayment.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.payments': async ({ b, data }) => {
      expect((await data(b, LIST)).payments).toEqual([]);
    },
    'Query.payment': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).payment).toBeNull();
    },
    'Mutation.createPayment': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createPayment.name).toBe('Tenant B');
    },
  },
  entities: { Payment: { selection: '... on Payment { id name createdAt }', id: ({ id }) => id } },
});
