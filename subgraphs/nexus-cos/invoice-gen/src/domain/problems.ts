import type { InvoiceStatus } from '../entities/invoice.entity.ts';

/** The expected failures of invoice operations: members of the schema's result unions, never errors. */
export interface InvoiceNotFound {
  __typename: 'InvoiceNotFound';
  invoiceId: string;
  message: string;
}

export interface InvoiceNotIssuable {
  __typename: 'InvoiceNotIssuable';
  invoiceId: string;
  status: InvoiceStatus;
  message: string;
}

export interface InvoiceNotVoidable {
  __typename: 'InvoiceNotVoidable';
  invoiceId: string;
  status: InvoiceStatus;
  message: string;
}

export type InvoiceNotPayableReason = 'NOT_FOUND' | 'NOT_ISSUED' | 'ALREADY_PAID' | 'AMOUNT_MISMATCH' | 'CURRENCY_MISMATCH';

export interface InvoiceNotPayable {
  __typename: 'InvoiceNotPayable';
  invoiceId: string;
  reason: InvoiceNotPayableReason;
  invoiceStatus: InvoiceStatus | null;
  message: string;
}

export type InvoiceProblem = InvoiceNotFound | InvoiceNotIssuable | InvoiceNotVoidable | InvoiceNotPayable;

export const invoiceNotFound = (invoiceId: string): InvoiceNotFound => ({
  __typename: 'InvoiceNotFound',
  invoiceId,
  message: `No invoice ${invoiceId}`,
});
