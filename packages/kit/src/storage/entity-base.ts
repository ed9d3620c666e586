import { p } from '@mikro-orm/postgresql';

/**
 * The properties every entity shares, to spread into `defineEntity({ properties: { ...entityBase, ... } })`. Column
 * names and types are those every service's migrations already create (`id uuid`, `created_at timestamptz`).
 */
export const entityId = {
  id: p
    .uuid()
    .primary()
    .onCreate(() => crypto.randomUUID()),
};
export const createdAt = { createdAt: p.datetime().onCreate(() => new Date()) };
/** Touched by every flush that changes the row. */
export const updatedAt = {
  updatedAt: p
    .datetime()
    .onCreate(() => new Date())
    .onUpdate(() => new Date()),
};

/** A generated id and the time of creation. */
export const entityBase = { ...entityId, ...createdAt };

/** {@link entityBase} with the time of the latest change. */
export const timestampedEntityBase = { ...entityBase, ...updatedAt };

/**
 * The owning tenant's id; a tenant-owned entity also declares `filters: tenantFilter()` (tenant-scope.ts), which is
 * what keeps other tenants out. Override it after the spread to index it (`tenantId: p.uuid().index()`).
 */
export const tenantId = { tenantId: p.uuid() };
