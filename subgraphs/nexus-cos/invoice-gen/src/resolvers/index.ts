import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Invoice as InvoiceEntity } from '../entities/invoice.entity.ts';
import { Invoice } from './Invoice.ts';
import { InvoiceLine } from './InvoiceLine.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';

/** An answer is the invoice itself, or a problem that names its type. */
const invoiceOr = (result: object) => (result instanceof InvoiceEntity ? 'Invoice' : (result as { __typename: string }).__typename);

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Invoice,
  InvoiceLine,
  IssueInvoiceResult: { __resolveType: (result) => invoiceOr(result) as 'Invoice' | 'InvoiceNotFound' | 'InvoiceNotIssuable' },
  VoidInvoiceResult: { __resolveType: (result) => invoiceOr(result) as 'Invoice' | 'InvoiceNotFound' | 'InvoiceNotVoidable' },
  RecordInvoicePaymentResult: { __resolveType: (result) => invoiceOr(result) as 'Invoice' | 'InvoiceNotPayable' },
};
