import DataLoader from 'dataloader';
import { groupByKeys, loaderById, tenantScopeOf, type EntityManager, type Identity } from '@nexusflow/kit';
import { TenantKeyVersion } from './entities/tenant-key-version.entity.ts';

/** The key of a version's count of wrapped secrets. */
export const versionKey = (tenantKeyId: string, version: number) => `${tenantKeyId}:${version}`;

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager, identity: Identity) {
  const scope = tenantScopeOf(identity);
  return {
    versionById: loaderById(em, TenantKeyVersion),
    /** The versions of tenant keys, newest first. */
    versionsByTenantKey: new DataLoader<string, TenantKeyVersion[]>(async (ids) => {
      const rows = await em.find(TenantKeyVersion, { tenantKeyId: { $in: [...ids] } }, { orderBy: { version: 'desc' } });
      return groupByKeys(ids, rows, (row) => row.tenantKeyId);
    }),
    /** How many secrets each version (by {@link versionKey}) wraps the data key of: one grouped count per batch. */
    wrappedSecretCount: new DataLoader<string, number>(async (keys) => {
      const tenantId = scope.kind === 'tenant' ? scope.tenantId : null;
      const tenantKeyIds = [...new Set(keys.map((key) => key.split(':')[0]!))];
      const rows =
        tenantId === null
          ? []
          : await em.execute<{ tenant_key_id: string; key_version: number; count: string }[]>(
              `select "tenant_key_id", "key_version", count(*) as "count" from "wrapped_secrets"
               where "tenant_id" = ? and "tenant_key_id" in (${tenantKeyIds.map(() => '?').join(', ')})
               group by "tenant_key_id", "key_version"`,
              [tenantId, ...tenantKeyIds],
            );
      const counts = new Map(rows.map((row) => [versionKey(row.tenant_key_id, row.key_version), Number(row.count)]));
      return keys.map((key) => counts.get(key) ?? 0);
    }),
  };
}

export type KeyServiceLoaders = ReturnType<typeof createLoaders>;
