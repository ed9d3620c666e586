import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const DRAFT = `mutation ($input: CreateInvoiceDraftInput!) { createInvoiceDraft(input: $input) { id } }`;
const ISSUE = `mutation ($id: ID!) { issueInvoice(id: $id) { __typename } }`;
const ACCOUNTS = '{ ledgerAccounts { id code balanceMinor } }';
const ACCOUNT = 'query ($id: ID!) { ledgerAccount(id: $id) { id } }';
const ENTRIES = '{ journalEntries(first: 100) { id idempotencyKey } }';
const ENTRY = 'query ($id: ID!) { journalEntry(id: $id) { id } }';
const BALANCES = '{ accountBalances { accountCode balanceMinor } }';
const RECONCILIATION = `query ($from: DateTime!, $to: DateTime!) { reconciliation(from: $from, to: $to) {
  clean matched { reference } missingInLedger { reference } missingInBilling { reference } } }`;
const HOUR_MS = 3_600_000;

/**
 * Tenant B (a stranger) never sees tenant A's ledger: run by test/integration/tenant-isolation.test.ts. Tenant A's
 * entries come from an invoice it issues (invoice-gen posts it); postJournalEntry is internal, out of the API.
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const draft = await data(a, DRAFT, {
      input: {
        currency: 'EUR',
        seller: { name: 'Tenant A' },
        customer: { name: 'Its customer' },
        lines: [{ description: 'Tenant A only', quantity: 1, unitPriceMinor: 1_000, taxRatePercent: '0' }],
      },
    });
    await data(a, ISSUE, { id: draft.createInvoiceDraft.id });
    const accounts = (await data(a, ACCOUNTS)).ledgerAccounts as { id: string }[];
    const entries = (await data(a, ENTRIES)).journalEntries as { id: string }[];
    return { accountId: accounts[0]?.id ?? draft.createInvoiceDraft.id, entryId: entries[0]?.id ?? draft.createInvoiceDraft.id };
  },
  stateOfA: async ({ a, data }) => ({ ...(await data(a, ENTRIES)), ...(await data(a, BALANCES)) }),
  root: {
    'Query.ledgerAccounts': async ({ b, data }) => {
      expect((await data(b, ACCOUNTS)).ledgerAccounts).toEqual([]);
    },
    'Query.ledgerAccount': async ({ b, data }, { accountId }) => {
      expect((await data(b, ACCOUNT, { id: accountId })).ledgerAccount).toBeNull();
    },
    'Query.journalEntries': async ({ b, data }) => {
      expect((await data(b, ENTRIES)).journalEntries).toEqual([]);
    },
    'Query.journalEntry': async ({ b, data }, { entryId }) => {
      expect((await data(b, ENTRY, { id: entryId })).journalEntry).toBeNull();
    },
    'Query.accountBalances': async ({ b, data }) => {
      expect((await data(b, BALANCES)).accountBalances).toEqual([]);
    },
    'Query.reconciliation': async ({ b, data }) => {
      const period = { from: new Date(Date.now() - HOUR_MS).toISOString(), to: new Date(Date.now() + HOUR_MS).toISOString() };
      expect((await data(b, RECONCILIATION, period)).reconciliation).toEqual({
        clean: true,
        matched: [],
        missingInLedger: [],
        missingInBilling: [],
      });
    },
  },
  entities: {
    LedgerAccount: { selection: '... on LedgerAccount { id code balanceMinor }', id: ({ accountId }) => accountId },
    JournalEntry: { selection: '... on JournalEntry { id idempotencyKey lines { debitMinor } }', id: ({ entryId }) => entryId },
  },
});
