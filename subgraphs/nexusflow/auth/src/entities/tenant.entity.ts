import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** What a tenant's subscription gives it; the ai subgraph routes its requests by it. Billing will set it; until then, SQL. */
export const TenantPlan = { Free: 'FREE', Team: 'TEAM', Enterprise: 'ENTERPRISE' } as const;
export type TenantPlan = (typeof TenantPlan)[keyof typeof TenantPlan];

export const TenantSchema = defineEntity({
  name: 'Tenant',
  tableName: 'tenants',
  filters: tenantFilter('id'),
  properties: {
    ...entityBase,
    name: p.string(),
    slug: p.string().unique(),
    plan: p.enum(() => TenantPlan).default(TenantPlan.Free),
  },
});

export class Tenant extends TenantSchema.class {}
TenantSchema.setClass(Tenant);
