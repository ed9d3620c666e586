import { randomUUID } from 'node:crypto';
import { Role, type Identity } from '@nexusflow/kit';

/** Every field of an invoice a test looks at. */
export const INVOICE_FIELDS = `id number status currency currencyExponent subtotalMinor taxMinor totalMinor formattedTotal taxRatePercent
  seller { name } customer { name email address taxId }
  lines { position description quantity unitPriceMinor amountMinor taxRatePercent taxMinor totalMinor }
  dueAt issuedAt paidAt paymentId voidedAt voidReason pdfUrl`;

export const CREATE_DRAFT = `mutation ($input: CreateInvoiceDraftInput!) { createInvoiceDraft(input: $input) { ${INVOICE_FIELDS} } }`;
export const ISSUE = `mutation ($id: ID!) { issueInvoice(id: $id) { __typename
  ... on Invoice { ${INVOICE_FIELDS} } ... on InvoiceNotFound { invoiceId message } ... on InvoiceNotIssuable { invoiceId status message } } }`;
export const VOID = `mutation ($id: ID!, $reason: String) { voidInvoice(id: $id, reason: $reason) { __typename
  ... on Invoice { ${INVOICE_FIELDS} } ... on InvoiceNotFound { invoiceId message } ... on InvoiceNotVoidable { invoiceId status message } } }`;
export const RECORD_PAYMENT = `mutation ($input: RecordInvoicePaymentInput!) { recordInvoicePayment(input: $input) { __typename
  ... on Invoice { ${INVOICE_FIELDS} } ... on InvoiceNotPayable { invoiceId reason invoiceStatus message } } }`;
export const FIND = `query ($id: ID!) { invoice(id: $id) { ${INVOICE_FIELDS} } }`;
export const LIST = `query ($filter: InvoiceFilterInput, $first: Int) { invoices(filter: $filter, first: $first) { id number status currency } }`;

export type User = Extract<Identity, { kind: 'user' }>;
export const userOf = (tenantId: string, roles: Role[] = [Role.Owner]): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

export interface InvoiceView {
  id: string;
  number: string | null;
  status: string;
  currency: string;
  subtotalMinor: number;
  taxMinor: number;
  totalMinor: number;
  formattedTotal: string;
  pdfUrl: string | null;
  [field: string]: unknown;
}

/** A draft of two lines at 20 % in EUR: 2 × 12.50 + 1 × 9.99, tax 5.00 + 2.00 (1.998 rounded). */
export const draftInput = (overrides: Record<string, unknown> = {}) => ({
  currency: 'EUR',
  seller: { name: 'Acme Supplies GmbH', email: 'billing@acme.example', address: 'Hauptstraße 1\n10115 Berlin', taxId: 'DE123456789' },
  customer: { name: 'Globex Corporation', email: 'ap@globex.example', address: '1 Infinite Loop' },
  taxRatePercent: '20',
  lines: [
    { description: 'Widget', quantity: 2, unitPriceMinor: 1250 },
    { description: 'Gadget', quantity: 1, unitPriceMinor: 999 },
  ],
  ...overrides,
});
