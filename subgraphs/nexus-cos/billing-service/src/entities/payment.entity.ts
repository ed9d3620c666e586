import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A payment of one tenant: the tenant filter keeps other tenants' rows out of every query. */
export const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who created it. */
    createdBy: p.uuid(),
    name: p.string(),
  },
});

export class Payment extends PaymentSchema.class {}
PaymentSchema.setClass(Payment);
