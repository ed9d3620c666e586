import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A tenant key of one tenant: the tenant filter keeps other tenants' rows out of every query. */
export const TenantKeySchema = defineEntity({
  name: 'TenantKey',
  tableName: 'tenant_keys',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    /** The user who created it. */
    createdBy: p.uuid(),
    name: p.string(),
  },
});

export class TenantKey extends TenantKeySchema.class {}
TenantKeySchema.setClass(TenantKey);
