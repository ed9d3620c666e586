import DataLoader from 'dataloader';
import { groupByKeys, loaderById, type EntityManager, type Identity } from '@nexusflow/kit';
import { Tenant } from './entities/tenant.entity.ts';
import { User } from './entities/user.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (see the kit's tenant-scope.ts). */
export function createLoaders(em: EntityManager, _identity: Identity) {
  return {
    userById: loaderById(em, User),
    tenantById: loaderById(em, Tenant),
    usersByTenantId: new DataLoader<string, User[]>(async (tenantIds) =>
      groupByKeys(
        tenantIds,
        await em.find(User, { tenant: { $in: [...tenantIds] } }, { orderBy: { createdAt: 'asc', id: 'asc' } }),
        (u) => u.tenant.id,
      ),
    ),
  };
}

export type AuthLoaders = ReturnType<typeof createLoaders>;
