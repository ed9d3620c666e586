import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const DRAFT_INPUT = {
  currency: 'EUR',
  seller: { name: 'Tenant A Seller' },
  customer: { name: 'Tenant A Customer' },
  taxRatePercent: '20',
  lines: [{ description: 'Tenant A only', quantity: 1, unitPriceMinor: 1000 }],
};
const CREATE = 'mutation ($input: CreateInvoiceDraftInput!) { createInvoiceDraft(input: $input) { id number status totalMinor } }';
const ISSUE = `mutation ($id: ID!) { issueInvoice(id: $id) { __typename
  ... on Invoice { id number status } ... on InvoiceNotFound { invoiceId } ... on InvoiceNotIssuable { status } } }`;
const VOID = `mutation ($id: ID!) { voidInvoice(id: $id) { __typename
  ... on Invoice { id status } ... on InvoiceNotFound { invoiceId } ... on InvoiceNotVoidable { status } } }`;
const LIST = '{ invoices(first: 100) { id number status totalMinor customer { name } } }';
const FIND = 'query ($id: ID!) { invoice(id: $id) { id number status } }';

/** Tenant B (a stranger) never sees, numbers, nor voids tenant A's invoices: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const draftId = (await data(a, CREATE, { input: DRAFT_INPUT })).createInvoiceDraft.id as string;
    const issuedId = (await data(a, CREATE, { input: DRAFT_INPUT })).createInvoiceDraft.id as string;
    await data(a, ISSUE, { id: issuedId });
    return { draftId, issuedId };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.invoices': async ({ b, data }) => {
      expect((await data(b, LIST)).invoices).toEqual([]);
      expect((await data(b, '{ invoices(filter: { customerName: "Tenant A" }) { id } }')).invoices).toEqual([]);
    },
    'Query.invoice': async ({ b, data }, { draftId, issuedId }) => {
      for (const id of [draftId, issuedId]) expect((await data(b, FIND, { id })).invoice).toBeNull();
    },
    'Mutation.createInvoiceDraft': async ({ b, data }) => {
      const created = (await data(b, CREATE, { input: { ...DRAFT_INPUT, customer: { name: 'Tenant B Customer' } } })).createInvoiceDraft;
      expect(created).toMatchObject({ number: null, status: 'DRAFT' });
      // Tenant B's own numbering starts at its first invoice: A's issued one took nothing from it.
      expect((await data(b, ISSUE, { id: created.id })).issueInvoice.number).toMatch(/^INV-\d{4}-000001$/);
    },
    'Mutation.issueInvoice': async ({ b, data }, { draftId }) => {
      expect((await data(b, ISSUE, { id: draftId })).issueInvoice).toEqual({ __typename: 'InvoiceNotFound', invoiceId: draftId });
    },
    'Mutation.voidInvoice': async ({ b, data }, { draftId, issuedId }) => {
      for (const id of [draftId, issuedId]) {
        expect((await data(b, VOID, { id })).voidInvoice).toEqual({ __typename: 'InvoiceNotFound', invoiceId: id });
      }
    },
  },
  entities: {
    Invoice: {
      selection: '... on Invoice { id number status totalMinor customer { name } lines { description } pdfUrl }',
      id: ({ issuedId }) => issuedId,
    },
  },
});
