import { tenantFilter, tenantId } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** Where a user can be reached outside the app. */
export const ContactSchema = defineEntity({
  name: 'Contact',
  tableName: 'contacts',
  filters: tenantFilter(),
  properties: {
    userId: p.uuid().primary(),
    ...tenantId,
    email: p.string().nullable(),
    phone: p.string().nullable(),
    pushToken: p.text().nullable(),
  },
});

export class Contact extends ContactSchema.class {}
ContactSchema.setClass(Contact);
