import DataLoader from 'dataloader';
import type { EntityName, FilterQuery } from '@mikro-orm/core';
import type { EntityManager } from '../storage/database.ts';

/** DataLoader batch results: one slot per key, in key order, null where nothing matched. */
export function orderByKeys<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): (T | null)[] {
  const index = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => index.get(key) ?? null);
}

/** DataLoader batch results for one-to-many: the rows of each key, in key order, empty where none matched. */
export function groupByKeys<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key) ?? []);
}

/**
 * Rows of `entity` by id, for one request: one statement per batch, whatever the number of ids, each result in key
 * order and null where the request's unit of work sees no such row (another tenant's, or one `where` leaves out).
 */
export function loaderById<Entity extends { id: string }>(
  em: EntityManager,
  entity: EntityName<Entity>,
  where: FilterQuery<Entity> = {},
): DataLoader<string, Entity | null> {
  return new DataLoader(async (ids) => {
    const rows = await em.find(entity, { $and: [where, { id: { $in: [...ids] } }] } as FilterQuery<Entity>);
    return orderByKeys(ids, rows as Entity[], (row) => row.id);
  });
}
