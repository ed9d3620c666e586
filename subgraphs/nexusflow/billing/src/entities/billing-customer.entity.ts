import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A tenant as a Stripe customer: made once, on the first operation that needs one, and kept. */
export const BillingCustomerSchema = defineEntity({
  name: 'BillingCustomer',
  tableName: 'billing_customers',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().unique(),
    stripeCustomerId: p.string().unique(),
    /** Set when Stripe reports a confirmed SetupIntent: what paid plans are charged to. */
    defaultPaymentMethodId: p.string().nullable(),
  },
});

export class BillingCustomer extends BillingCustomerSchema.class {}
BillingCustomerSchema.setClass(BillingCustomer);
