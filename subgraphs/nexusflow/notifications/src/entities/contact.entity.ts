import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** Where a user can be reached outside the app, per tenant: a person of two tenants keeps a set in each. */
export const ContactSchema = defineEntity({
  name: 'Contact',
  tableName: 'contacts',
  filters: tenantFilter(),
  properties: {
    tenantId: p.uuid().primary(),
    userId: p.uuid().primary(),
    email: p.string().nullable(),
    phone: p.string().nullable(),
    pushToken: p.text().nullable(),
  },
});

export class Contact extends ContactSchema.class {}
ContactSchema.setClass(Contact);
