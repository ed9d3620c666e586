import { loaderById, type EntityManager } from '@nexusflow/kit';
import { TenantKey } from './entities/tenant-key.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { tenantKeyById: loaderById(em, TenantKey) };
}

export type KeyServiceLoaders = ReturnType<typeof createLoaders>;
