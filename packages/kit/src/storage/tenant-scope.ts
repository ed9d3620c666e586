import { ChangeSetType, type EntityManager, type EntityMetadata, type EventSubscriber, type FlushEventArgs } from '@mikro-orm/postgresql';
import type { Identity } from '../platform/identity.ts';

/**
 * Tenant isolation, enforced by the ORM rather than by each query: every tenant-owned entity carries the `tenant`
 * filter (see {@link tenantFilter}), enabled by default, whose parameter is the tenant of the unit of work. A request's
 * unit of work is scoped to its verified identity ({@link tenantFork}), so a query that forgets the tenant still
 * returns the caller's tenant's rows only; work that is not a caller's (workers, relays, timers) says so by name
 * ({@link systemFork}). A unit of work with no scope at all fails on its first tenant-owned query instead of guessing.
 * Writes are held to the same scope by {@link TenantWriteGuard}.
 */
export const TENANT_FILTER = 'tenant';

/** The `tenant` filter's parameter: one tenant (null: none, so nothing matches), or every tenant for system work. */
export type TenantScope = { kind: 'tenant'; tenantId: string | null } | { kind: 'all-tenants' };

/** The one place an identity becomes a tenant: a user's own tenant; anonymous callers have none. */
export function tenantScopeOf(identity: Identity): TenantScope {
  return { kind: 'tenant', tenantId: identity.kind === 'user' ? identity.tenantId : null };
}

const ALL_TENANTS: TenantScope = Object.freeze({ kind: 'all-tenants' });

/** Matches no row at all (MikroORM writes it as `1 = 0`). */
const NOTHING = { $in: [] };

/** The tenant property of each tenant filter's condition, for the write guard. */
const tenantProperties = new WeakMap<object, string>();

/**
 * The `filters` of a tenant-owned entity for `defineEntity`.
 *
 * @param property the property that holds the owning tenant's id: a column, a relation to the tenant, or the primary
 *   key of the tenant entity itself @default 'tenantId'
 */
export function tenantFilter(property = 'tenantId') {
  const cond = (scope: TenantScope | undefined, _type: string, _em: unknown, _options: unknown, entityName?: string) => {
    if (!scope)
      throw new Error(
        `${entityName ?? 'A tenant-owned entity'} was queried without a tenant scope: use tenantFork(database, identity) or systemFork(database)`,
      );
    if (scope.kind === 'all-tenants') return {};
    return { [property]: scope.tenantId ?? NOTHING };
  };
  tenantProperties.set(cond, property);
  // The parameter is checked by the condition rather than by MikroORM (args: false), so that a missing scope says what to do.
  return { [TENANT_FILTER]: { name: TENANT_FILTER, default: true, args: false, cond } };
}

function tenantPropertyOf(meta: EntityMetadata): string | undefined {
  const cond = meta.filters[TENANT_FILTER]?.cond;
  return typeof cond === 'function' ? tenantProperties.get(cond) : undefined;
}

/** A tenant id held as a column, a reference to the tenant, or the tenant entity's own id. */
function tenantIdIn(value: unknown): unknown {
  return typeof value === 'object' && value !== null && 'id' in value ? value.id : value;
}

/**
 * Refuses a flush that would create a tenant-owned row for, or move one to, a tenant other than the unit of work's:
 * the filter keeps other tenants' rows out of reads, updates and deletes, and this keeps them out of inserts.
 * Registered on every database by `openDatabase`.
 */
export class TenantWriteGuard implements EventSubscriber {
  onFlush({ em, uow }: FlushEventArgs): void {
    const tenantScope = em.getFilterParams(TENANT_FILTER) as TenantScope | undefined;
    if (tenantScope?.kind === 'all-tenants') return;
    for (const changeSet of uow.getChangeSets()) {
      if (changeSet.type !== ChangeSetType.CREATE && changeSet.type !== ChangeSetType.UPDATE) continue;
      const property = tenantPropertyOf(changeSet.meta);
      if (!property) continue;
      if (!tenantScope)
        throw new Error(
          `${changeSet.meta.className} was written without a tenant scope: use tenantFork(database, identity) or systemFork(database)`,
        );
      const owner = tenantIdIn((changeSet.entity as Record<string, unknown>)[property]);
      if (owner !== tenantScope.tenantId)
        throw new Error(`${changeSet.meta.className} belongs to another tenant than the unit of work writing it`);
    }
  }
}

/** Sets the tenant scope of a unit of work and everything forked from it. */
function scope(em: EntityManager, tenantScope: TenantScope): EntityManager {
  em.setFilterParams(TENANT_FILTER, tenantScope);
  return em;
}

/** Anything a unit of work can be forked from: the database, or another unit of work. */
export interface Forkable {
  fork(): EntityManager;
}

/** A request's unit of work: it sees, changes and deletes only rows of the caller's tenant (none for anonymous callers). */
export function tenantFork(from: Forkable, identity: Identity): EntityManager {
  return scope(from.fork(), tenantScopeOf(identity));
}

/**
 * A unit of work across every tenant, for work that is not a caller's (workers, relays, timers, the scheduler's ticker,
 * the engine's sweeper) or that precedes an identity (signing in). Every use is an explicit, greppable opt-out.
 */
export function systemFork(from: Forkable): EntityManager {
  return scope(from.fork(), ALL_TENANTS);
}

/** The tenant scope a unit of work runs under, for what the filter does not reach: raw SQL. */
export function tenantScopeOfUnit(em: EntityManager): TenantScope {
  const tenantScope = em.getFilterParams(TENANT_FILTER) as TenantScope | undefined;
  if (!tenantScope)
    throw new Error('Raw SQL of tenant-owned rows needs a tenant scope: use tenantFork(database, identity) or systemFork(database)');
  return tenantScope;
}

/**
 * The tenant clause of raw SQL, from the same scope the filter uses: `<column> = ?` for a tenant, a clause that is
 * never true for no tenant, and always true for system work.
 *
 * @param column the qualified, quoted column, e.g. `t."tenant_id"`
 */
export function tenantCondition(em: EntityManager, column: string): { sql: string; params: unknown[] } {
  const tenantScope = tenantScopeOfUnit(em);
  if (tenantScope.kind === 'all-tenants') return { sql: 'true', params: [] };
  if (tenantScope.tenantId === null) return { sql: 'false', params: [] };
  return { sql: `${column} = ?`, params: [tenantScope.tenantId] };
}
