import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export enum KeyVersionState {
  Active = 'ACTIVE',
  Retired = 'RETIRED',
  Destroyed = 'DESTROYED',
}

/**
 * One version of a tenant key: 32 random bytes, sealed under the master key and bound to its key id and version, so
 * that a copy of the database alone unwraps nothing and a sealed value moved to another row does not open.
 */
export const TenantKeyVersionSchema = defineEntity({
  name: 'TenantKeyVersion',
  tableName: 'tenant_key_versions',
  filters: tenantFilter(),
  uniques: [{ properties: ['tenantKeyId', 'version'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    tenantKeyId: p.uuid(),
    version: p.integer(),
    state: p.enum(() => KeyVersionState),
    /** The key material, sealed under the master key; null once destroyed. */
    sealedMaterial: p.text().nullable(),
    /** Which master key sealed it (a fingerprint, never the key): the maintenance pass re-seals the others. */
    masterKeyId: p.string().nullable().index(),
    retiredAt: p.datetime().nullable(),
    destroyedAt: p.datetime().nullable(),
  },
});

export class TenantKeyVersion extends TenantKeyVersionSchema.class {}
TenantKeyVersionSchema.setClass(TenantKeyVersion);
