import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A person, across every tenant they are a member of (see Membership): never read in a tenant's unit of work except
 * through a membership, which is what keeps users of other tenants out of sight.
 */
export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    ...entityBase,
    /** Stored lower-cased, so that sign-in is case-insensitive and unique per person. */
    email: p.string().unique(),
    name: p.string(),
    /** Null for people who only ever signed in through an identity provider. */
    passwordHash: p.string().lazy().nullable(),
    /** When the user proved control of `email` (a verification or password-reset link); null until then. */
    emailVerifiedAt: p.datetime().nullable(),
  },
});

export class User extends UserSchema.class {}
UserSchema.setClass(User);
