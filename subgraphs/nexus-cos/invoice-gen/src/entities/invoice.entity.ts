import { tenantFilter, timestampedEntityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { ComputedLine } from '../domain/money.ts';

export type InvoiceStatus = 'DRAFT' | 'ISSUED' | 'PAID' | 'VOID';

/** The seller or the customer, as printed on the invoice: a copy, so that a later change elsewhere does not alter it. */
export interface InvoiceParty {
  name: string;
  email: string | null;
  address: string | null;
  taxId: string | null;
}

/**
 * An invoice of one tenant. Its lines are part of the document (kept with it, never changed once issued), so they are
 * stored in the row; `number` is given at issue from the tenant's counter (invoice-number-counter.entity.ts).
 */
export const InvoiceSchema = defineEntity({
  name: 'Invoice',
  tableName: 'invoices',
  filters: tenantFilter(),
  indexes: [{ properties: ['tenantId', 'createdAt'] }],
  uniques: [{ properties: ['tenantId', 'number'] }],
  properties: {
    ...timestampedEntityBase,
    tenantId: p.uuid(),
    /** The user who created the draft. */
    createdBy: p.uuid(),
    status: p.string().$type<InvoiceStatus>(),
    number: p.string().nullable(),
    currency: p.string().length(3),
    currencyExponent: p.integer(),
    /** The invoice-wide rate in parts per million, for lines without one; null when none was given. */
    taxRatePpm: p.integer().nullable(),
    subtotalMinor: p.integer(),
    taxMinor: p.integer(),
    totalMinor: p.integer(),
    seller: p.json<InvoiceParty>(),
    customer: p.json<InvoiceParty>(),
    lines: p.json<ComputedLine[]>(),
    memo: p.text().nullable(),
    dueAt: p.datetime().nullable(),
    issuedAt: p.datetime().nullable(),
    issuedBy: p.uuid().nullable(),
    paidAt: p.datetime().nullable(),
    paymentId: p.string().nullable(),
    voidedAt: p.datetime().nullable(),
    voidedBy: p.uuid().nullable(),
    voidReason: p.text().nullable(),
  },
});

export class Invoice extends InvoiceSchema.class {}
InvoiceSchema.setClass(Invoice);
