import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A user of one tenant: the tenant filter keeps other tenants' rows out of every query. */
export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who created it. */
    createdBy: p.uuid(),
    name: p.string(),
  },
});

export class User extends UserSchema.class {}
UserSchema.setClass(User);
