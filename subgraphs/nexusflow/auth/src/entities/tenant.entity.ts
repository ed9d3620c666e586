import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export const TenantSchema = defineEntity({
  name: 'Tenant',
  tableName: 'tenants',
  filters: tenantFilter('id'),
  properties: {
    ...entityBase,
    name: p.string(),
    slug: p.string().unique(),
  },
});

export class Tenant extends TenantSchema.class {}
TenantSchema.setClass(Tenant);
