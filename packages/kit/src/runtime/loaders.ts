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
