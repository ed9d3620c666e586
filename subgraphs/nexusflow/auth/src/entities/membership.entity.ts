import { entityBase, Role, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { Tenant } from './tenant.entity.ts';
import { User } from './user.entity.ts';

/**
 * A user's place in one tenant: one role, and when they last worked there (sign-in picks that tenant by default). A
 * person may be a member of several tenants; the access token names the one they are working in. The GraphQL `User`
 * is a membership: a user as a member of the caller's tenant.
 */
export const MembershipSchema = defineEntity({
  name: 'Membership',
  tableName: 'memberships',
  filters: tenantFilter('tenant'),
  uniques: [
    { properties: ['tenant', 'user'] },
    // Exactly one OWNER per tenant: a transfer that would leave two, or two racing, fails here.
    {
      name: 'memberships_one_owner_per_tenant',
      expression: `create unique index "memberships_one_owner_per_tenant" on "memberships" ("tenant_id") where "role" = 'OWNER'`,
    },
  ],
  properties: {
    ...entityBase,
    tenant: () => p.manyToOne(Tenant).ref().deleteRule('cascade').index(),
    user: () => p.manyToOne(User).ref().deleteRule('cascade').index(),
    role: p.enum(() => Role),
    lastActiveAt: p.datetime().nullable(),
  },
});

export class Membership extends MembershipSchema.class {}
MembershipSchema.setClass(Membership);
