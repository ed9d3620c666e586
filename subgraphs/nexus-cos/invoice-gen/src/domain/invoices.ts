import {
  badUserInput,
  isUuid,
  pageSize,
  parseInput,
  requireRole,
  Role,
  WRITER_ROLES,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { LockMode, type FilterQuery } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Invoice, type InvoiceParty, type InvoiceStatus } from '../entities/invoice.entity.ts';
import { issuedEntry, voidedEntry, type LedgerPoster } from './ledger-postings.ts';
import { computeTotals, currencyOf, MAX_MINOR, parsePercent } from './money.ts';
import { formatInvoiceNumber, takeInvoiceNumber } from './numbering.ts';
import {
  invoiceNotFound,
  type InvoiceNotFound,
  type InvoiceNotIssuable,
  type InvoiceNotPayable,
  type InvoiceNotVoidable,
} from './problems.ts';

const MAX_PAGE = 100;
/** Who issues and voids: what a customer is told they owe, and what the ledger records, is for those roles only. */
export const ISSUER_ROLES = [Role.Owner, Role.Admin] as const;

const optionalText = (max: number) =>
  z
    .string()
    .trim()
    .max(max, `must be at most ${max} characters`)
    .nullish()
    .transform((text) => (text ? text : null));

const percent = z
  .string()
  .nullish()
  .transform((text, context) => {
    if (text === null || text === undefined) return null;
    const ppm = parsePercent(text);
    if (ppm === undefined) {
      context.addIssue({ code: 'custom', message: 'must be a percentage from 0 to 100 with at most 4 decimals, e.g. "8.875"' });
      return z.NEVER;
    }
    return ppm;
  });

const party = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  email: z
    .email('must be an email address')
    .max(254)
    .nullish()
    .transform((email) => email ?? null),
  address: optionalText(500),
  taxId: optionalText(50),
});

const createDraftSchema = z.object({
  currency: z.string().transform((code, context) => {
    const currency = currencyOf(code);
    if (!currency) {
      context.addIssue({ code: 'custom', message: 'must be an ISO 4217 currency code, e.g. EUR' });
      return z.NEVER;
    }
    return currency;
  }),
  seller: party,
  customer: party,
  lines: z
    .array(
      z.object({
        description: z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters'),
        quantity: z.number().int().min(1, 'must be at least 1').max(1_000_000, 'must be at most 1000000'),
        unitPriceMinor: z.number().int().min(0, 'must not be negative').max(MAX_MINOR),
        taxRatePercent: percent,
      }),
    )
    .min(1, 'must have at least one line')
    .max(200, 'must have at most 200 lines'),
  taxRatePercent: percent,
  memo: optionalText(2000),
  dueAt: z
    .date()
    .nullish()
    .transform((date) => date ?? null),
});

const paymentSchema = z.object({
  invoiceId: z.string(),
  paymentId: z.string().trim().min(1, 'must not be empty').max(255, 'must be at most 255 characters'),
  amountMinor: z.number().int().min(0, 'must not be negative'),
  currency: z.string(),
  paidAt: z.date(),
});

export interface InvoiceListFilter {
  status?: readonly InvoiceStatus[] | null;
  currency?: string | null;
  customerName?: string | null;
  issuedFrom?: Date | null;
  issuedBefore?: Date | null;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (character) => `\\${character}`);

export interface InvoiceServiceOptions {
  numberPrefix: string;
  postings: LedgerPoster;
  now: () => number;
}

/**
 * The invoices of the caller's tenant (the request's unit of work sees no other tenant's): drafts, their issue under
 * the tenant's next gapless number, payment and void, each change with the ledger posting it owes in one transaction.
 */
export class InvoiceService {
  constructor(private readonly options: InvoiceServiceOptions) {}

  async list(em: EntityManager, filter: InvoiceListFilter | null | undefined, first: number): Promise<Invoice[]> {
    const limit = pageSize(first, MAX_PAGE);
    if (limit === 0) return [];
    const where: FilterQuery<Invoice> = {};
    if (filter?.status?.length) where.status = { $in: [...filter.status] };
    if (filter?.currency) where.currency = filter.currency.trim().toUpperCase();
    if (filter?.customerName?.trim()) where.customer = { name: { $ilike: `%${escapeLike(filter.customerName.trim())}%` } };
    if (filter?.issuedFrom || filter?.issuedBefore) {
      where.issuedAt = {
        ...(filter.issuedFrom ? { $gte: filter.issuedFrom } : {}),
        ...(filter.issuedBefore ? { $lt: filter.issuedBefore } : {}),
      };
    }
    return em.find(Invoice, where, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /** Needs a writer role: a VIEWER is refused with FORBIDDEN, an anonymous caller with UNAUTHENTICATED. */
  async createDraft(em: EntityManager, identity: Identity, input: unknown): Promise<Invoice> {
    const caller = requireRole(identity, WRITER_ROLES);
    const draft = parseInput(createDraftSchema, input);
    const invoiceRatePpm = draft.taxRatePercent ?? 0;
    const totals = computeTotals(
      draft.lines.map((line) => ({ ...line, taxRatePpm: line.taxRatePercent })),
      invoiceRatePpm,
    );
    if (!totals) throw badUserInput(`"lines" add up to more than ${MAX_MINOR} minor units`, { field: 'lines' });
    const invoice = em.create(Invoice, {
      tenantId: caller.tenantId,
      createdBy: caller.userId,
      status: 'DRAFT',
      number: null,
      currency: draft.currency.code,
      currencyExponent: draft.currency.exponent,
      taxRatePpm: draft.taxRatePercent,
      subtotalMinor: totals.subtotalMinor,
      taxMinor: totals.taxMinor,
      totalMinor: totals.totalMinor,
      seller: draft.seller satisfies InvoiceParty,
      customer: draft.customer satisfies InvoiceParty,
      lines: totals.lines,
      memo: draft.memo,
      dueAt: draft.dueAt,
    });
    await em.flush();
    return invoice;
  }

  /**
   * DRAFT → ISSUED, under the tenant's next number, with the receivable's posting owed to the ledger: one transaction,
   * holding the invoice's and the counter's row locks, so that neither a concurrent issue nor a failure leaves a gap.
   */
  async issue(em: EntityManager, identity: Identity, id: string): Promise<Invoice | InvoiceNotFound | InvoiceNotIssuable> {
    const caller = requireRole(identity, ISSUER_ROLES);
    if (!isUuid(id)) return invoiceNotFound(id);
    const outcome = await em.transactional(async (tx): Promise<Invoice | InvoiceNotFound | InvoiceNotIssuable> => {
      const invoice = await tx.findOne(Invoice, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!invoice) return invoiceNotFound(id);
      if (invoice.status !== 'DRAFT') {
        return {
          __typename: 'InvoiceNotIssuable',
          invoiceId: id,
          status: invoice.status,
          message: `Only a draft can be issued; this invoice is ${invoice.status.toLowerCase()}`,
        };
      }
      const now = new Date(this.options.now());
      const year = now.getUTCFullYear();
      const sequence = await takeInvoiceNumber(tx, invoice.tenantId, year);
      Object.assign(invoice, {
        status: 'ISSUED',
        number: formatInvoiceNumber(this.options.numberPrefix, year, sequence),
        issuedAt: now,
        issuedBy: caller.userId,
      });
      if (invoice.totalMinor > 0) this.options.postings.record(tx, invoice, issuedEntry(invoice, now), caller.userId);
      return invoice;
    });
    if (outcome instanceof Invoice) this.options.postings.wake();
    return outcome;
  }

  /** DRAFT or ISSUED → VOID; an issued invoice's posting is reversed. A PAID invoice is not voidable: a refund is. */
  async void(
    em: EntityManager,
    identity: Identity,
    id: string,
    reason: string | null | undefined,
  ): Promise<Invoice | InvoiceNotFound | InvoiceNotVoidable> {
    const caller = requireRole(identity, ISSUER_ROLES);
    const voidReason = parseInput(z.object({ reason: optionalText(500) }), { reason }).reason;
    if (!isUuid(id)) return invoiceNotFound(id);
    let posted = false;
    const outcome = await em.transactional(async (tx): Promise<Invoice | InvoiceNotFound | InvoiceNotVoidable> => {
      const invoice = await tx.findOne(Invoice, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!invoice) return invoiceNotFound(id);
      if (invoice.status !== 'DRAFT' && invoice.status !== 'ISSUED') {
        return {
          __typename: 'InvoiceNotVoidable',
          invoiceId: id,
          status: invoice.status,
          message:
            invoice.status === 'PAID' ? 'A paid invoice cannot be voided; refund its payment instead' : 'The invoice is void already',
        };
      }
      const now = new Date(this.options.now());
      if (invoice.status === 'ISSUED' && invoice.totalMinor > 0) {
        this.options.postings.record(tx, invoice, voidedEntry(invoice, now), caller.userId);
        posted = true;
      }
      Object.assign(invoice, { status: 'VOID', voidedAt: now, voidedBy: caller.userId, voidReason });
      return invoice;
    });
    if (posted) this.options.postings.wake();
    return outcome;
  }

  /**
   * ISSUED → PAID by one payment of exactly the total in the invoice's currency. Recording the payment that paid it
   * again returns the invoice as it is (billing-service retries after a lost answer, or a webhook arrives twice).
   * Internal: billing-service calls it in the tenant's name.
   */
  async recordPayment(em: EntityManager, identity: Identity, input: unknown): Promise<Invoice | InvoiceNotPayable> {
    requireRole(identity, WRITER_ROLES);
    const payment = parseInput(paymentSchema, input);
    const refuse = (reason: InvoiceNotPayable['reason'], invoiceStatus: InvoiceStatus | null, message: string): InvoiceNotPayable => ({
      __typename: 'InvoiceNotPayable',
      invoiceId: payment.invoiceId,
      reason,
      invoiceStatus,
      message,
    });
    if (!isUuid(payment.invoiceId)) return refuse('NOT_FOUND', null, `No invoice ${payment.invoiceId}`);
    return em.transactional(async (tx): Promise<Invoice | InvoiceNotPayable> => {
      const invoice = await tx.findOne(Invoice, { id: payment.invoiceId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!invoice) return refuse('NOT_FOUND', null, `No invoice ${payment.invoiceId}`);
      if (invoice.status === 'PAID') {
        if (invoice.paymentId === payment.paymentId) return invoice;
        return refuse('ALREADY_PAID', invoice.status, 'The invoice was paid already by another payment');
      }
      if (invoice.status !== 'ISSUED') {
        return refuse('NOT_ISSUED', invoice.status, `Only an issued invoice can be paid; this one is ${invoice.status.toLowerCase()}`);
      }
      if (payment.currency.trim().toUpperCase() !== invoice.currency) {
        return refuse('CURRENCY_MISMATCH', invoice.status, `The invoice is in ${invoice.currency}, the payment in ${payment.currency}`);
      }
      if (payment.amountMinor !== invoice.totalMinor) {
        return refuse(
          'AMOUNT_MISMATCH',
          invoice.status,
          `The invoice's total is ${invoice.totalMinor}, the payment's amount ${payment.amountMinor} (minor units)`,
        );
      }
      Object.assign(invoice, { status: 'PAID', paidAt: payment.paidAt, paymentId: payment.paymentId });
      return invoice;
    });
  }
}
