import { callSubgraph, Role, type Identity, type TypedDocumentNode } from '@nexusflow/kit';
import {
  BillingInvoiceToPayDocument,
  BillingRecordInvoicePaymentDocument,
  type BillingInvoiceToPayQuery,
  type BillingRecordInvoicePaymentMutation,
  type RecordInvoicePaymentInput,
} from '../__generated__/invoice-gen-operations.ts';
import {
  BillingPostJournalEntryDocument,
  type BillingPostJournalEntryMutation,
  type PostJournalEntryInput,
} from '../__generated__/ledger-mgr-operations.ts';

export type InvoiceToPay = NonNullable<BillingInvoiceToPayQuery['invoice']>;
export type JournalEntryToPost = PostJournalEntryInput;
export type PostedResult = BillingPostJournalEntryMutation['postJournalEntry'];
export type RecordedPayment = BillingRecordInvoicePaymentMutation['recordInvoicePayment'];

/** Who billing-service is when it acts for a tenant outside a request (applying Stripe's events): a fixed service user. */
export const BILLING_SERVICE_USER_ID = '00000000-0000-4000-8000-00000000b111';

export function serviceIdentityOf(tenantId: string): Identity {
  return { kind: 'user', userId: BILLING_SERVICE_USER_ID, tenantId, roles: [Role.Admin] };
}

/** The typed operations billing-service sends to invoice-gen and ledger-mgr, with a signed identity. */
export class Downstream {
  constructor(
    private readonly urls: { invoiceGen: string; ledgerMgr: string },
    private readonly internalSecret: string,
  ) {}

  private call<TResult, TVariables>(
    url: string,
    identity: Identity,
    query: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
  ): Promise<TResult> {
    return callSubgraph({ url, identity, internalSecret: this.internalSecret, query, variables });
  }

  /** The caller's invoice, as invoice-gen shows it to the caller, or null when the caller's tenant has none by that id. */
  async invoice(identity: Identity, id: string): Promise<InvoiceToPay | null> {
    return (await this.call(this.urls.invoiceGen, identity, BillingInvoiceToPayDocument, { id })).invoice;
  }

  async recordInvoicePayment(identity: Identity, input: RecordInvoicePaymentInput): Promise<RecordedPayment> {
    return (await this.call(this.urls.invoiceGen, identity, BillingRecordInvoicePaymentDocument, { input })).recordInvoicePayment;
  }

  async postJournalEntry(identity: Identity, input: PostJournalEntryInput): Promise<PostedResult> {
    return (await this.call(this.urls.ledgerMgr, identity, BillingPostJournalEntryDocument, { input })).postJournalEntry;
  }
}
