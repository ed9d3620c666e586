import { entityBase, Role, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A user of one organisation (tenant): the tenant filter keeps other tenants' rows out of every query. */
export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** Lower-cased; unique across organisations, since signing in names no organisation. */
    email: p.string().unique(),
    name: p.string(),
    role: p.enum(() => Role),
    /** scrypt, through the kit's `hashPassword`; loaded only when asked for, and never serialized. */
    passwordHash: p.text().lazy().hidden(),
    emailVerifiedAt: p.datetime().nullable(),
    deactivatedAt: p.datetime().nullable(),
    /** Who deactivated the user, while deactivated. */
    deactivatedBy: p.uuid().nullable(),
  },
});

export class User extends UserSchema.class {}
UserSchema.setClass(User);
