import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CREATE = 'mutation ($input: CreateLedgerAccountInput!) { createLedgerAccount(input: $input) { id name } }';
const LIST = '{ ledgerAccounts(first: 100) { id name } }';
const FIND = 'query ($id: ID!) { ledgerAccount(id: $id) { id name } }';

/** Tenant B (a stranger) never sees, nor changes, tenant A's ledgerAccounts: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).createLedgerAccount.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.ledgerAccounts': async ({ b, data }) => {
      expect((await data(b, LIST)).ledgerAccounts).toEqual([]);
    },
    'Query.ledgerAccount': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).ledgerAccount).toBeNull();
    },
    'Mutation.createLedgerAccount': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).createLedgerAccount.name).toBe('Tenant B');
    },
  },
  entities: { LedgerAccount: { selection: '... on LedgerAccount { id name createdAt }', id: ({ id }) => id } },
});
