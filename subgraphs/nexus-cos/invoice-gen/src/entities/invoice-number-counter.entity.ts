import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * The last number a tenant issued in a year. Issuing increments it in the issuing transaction, which holds its row
 * lock until it commits: concurrent issues wait for each other, and a transaction that fails gives its number back.
 */
export const InvoiceNumberCounterSchema = defineEntity({
  name: 'InvoiceNumberCounter',
  tableName: 'invoice_number_counters',
  filters: tenantFilter(),
  properties: {
    tenantId: p.uuid().primary(),
    year: p.integer().primary(),
    lastNumber: p.integer(),
  },
});

export class InvoiceNumberCounter extends InvoiceNumberCounterSchema.class {}
InvoiceNumberCounterSchema.setClass(InvoiceNumberCounter);
