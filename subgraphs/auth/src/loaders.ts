import DataLoader from 'dataloader';
import type { EntityManager, Identity } from '@nexusflow/kit';
import { Tenant } from './entities/tenant.entity.ts';
import { User } from './entities/user.entity.ts';

/** Orders rows as DataLoader expects: one slot per key, null where the row does not exist. */
function byKey<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): (T | null)[] {
  const index = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => index.get(key) ?? null);
}

function groupByKey<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key) ?? []);
}

export function createLoaders(em: EntityManager, _identity: Identity) {
  return {
    userById: new DataLoader<string, User | null>(async (ids) => byKey(ids, await em.find(User, { id: { $in: [...ids] } }), (u) => u.id)),
    tenantById: new DataLoader<string, Tenant | null>(async (ids) =>
      byKey(ids, await em.find(Tenant, { id: { $in: [...ids] } }), (t) => t.id),
    ),
    usersByTenantId: new DataLoader<string, User[]>(async (tenantIds) =>
      groupByKey(tenantIds, await em.find(User, { tenant: { $in: [...tenantIds] } }, { orderBy: { createdAt: 'asc', id: 'asc' } }), (u) => u.tenant.id),
    ),
  };
}

export type AuthLoaders = ReturnType<typeof createLoaders>;
