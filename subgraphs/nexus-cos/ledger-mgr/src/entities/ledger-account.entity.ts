import { createdAt, entityId, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** The accounts of the chart, in the order they are listed. */
export const LEDGER_ACCOUNT_CODES = ['CASH', 'ACCOUNTS_RECEIVABLE', 'REVENUE', 'TAX_PAYABLE', 'PROCESSING_FEES', 'REFUNDS'] as const;
export type LedgerAccountCode = (typeof LEDGER_ACCOUNT_CODES)[number];

/**
 * One account of a tenant's chart in one currency, opened by the first entry that names it (unique per tenant, code and
 * currency): the tenant filter keeps other tenants' rows out of every query.
 */
export const LedgerAccountSchema = defineEntity({
  name: 'LedgerAccount',
  tableName: 'ledger_accounts',
  filters: tenantFilter(),
  uniques: [{ properties: ['tenantId', 'code', 'currency'] }],
  properties: {
    ...entityId,
    ...createdAt,
    tenantId: p.uuid(),
    code: p.string().length(32).$type<LedgerAccountCode>(),
    currency: p.string().length(3),
  },
});

export class LedgerAccount extends LedgerAccountSchema.class {}
LedgerAccountSchema.setClass(LedgerAccount);
