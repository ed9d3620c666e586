import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A tenant's key-encryption key: one per tenant, made at its first encryption, whose versions live beside it. */
export const TenantKeySchema = defineEntity({
  name: 'TenantKey',
  tableName: 'tenant_keys',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().unique(),
    /** The version that wraps new data keys. */
    currentVersion: p.integer(),
    /** When the current version was made: the rotation schedule counts from it. */
    rotatedAt: p.datetime().index(),
  },
});

export class TenantKey extends TenantKeySchema.class {}
TenantKeySchema.setClass(TenantKey);
