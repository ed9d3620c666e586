import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateInvoiceInput!) { createInvoice(input: $input) { id name } }';
const LIST = '{ invoices(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { invoice(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's invoices: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createInvoice.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.invoices': async ({ b, data }) => {
      expect((await data(b, LIST)).invoices).toEqual([]);
    },
    'Query.invoice': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).invoice).toBeNull();
    },
    'Mutation.createInvoice': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createInvoice.name).toBe('Tenant B');
    },
  },
  entities: { Invoice: { selection: '... on Invoice { id name createdAt }', id: ({ id }) => id } },
});
