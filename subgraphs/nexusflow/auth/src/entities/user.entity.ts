import { entityBase, Role, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { Tenant } from './tenant.entity.ts';

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  filters: tenantFilter('tenant'),
  properties: {
    ...entityBase,
    /** Stored lower-cased, so that sign-in is case-insensitive and unique per person. */
    email: p.string().unique(),
    name: p.string(),
    passwordHash: p.string().lazy(),
    roles: p.enum(() => Role).array(),
    tenant: () => p.manyToOne(Tenant).ref().deleteRule('cascade').index(),
  },
});

export class User extends UserSchema.class {}
UserSchema.setClass(User);
