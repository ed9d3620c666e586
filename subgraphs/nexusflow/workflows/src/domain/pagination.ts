import { badUserInput, isUuid } from '@nexusflow/kit';

/** Opaque to clients: the sort key of the last row of the previous page. */
export interface Cursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(row: Cursor): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): Cursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(createdAt);
    // Cursors carry creation times; a year outside these cannot be one, and PostgreSQL would refuse some of them.
    const year = date.getUTCFullYear();
    if (typeof id !== 'string' || !isUuid(id) || Number.isNaN(date.getTime()) || year < 1970 || year > 9999) throw new Error('bad cursor');
    return { createdAt: date, id };
  } catch {
    throw badUserInput('The cursor is not one this API returned', { field: 'after' });
  }
}

/** Rows newer first; `(createdAt, id)` keeps the order total when timestamps tie. */
export function afterCursor(cursor: string | null | undefined) {
  if (!cursor) return {};
  const { createdAt, id } = decodeCursor(cursor);
  return { $or: [{ createdAt: { $lt: createdAt } }, { createdAt, id: { $lt: id } }] };
}

export const PAGE_ORDER = { createdAt: 'desc', id: 'desc' } as const;

export function pageSize(first: number | null | undefined, max = 100): number {
  const size = first ?? 20;
  if (size < 0 || size > max) throw badUserInput(`first must be between 0 and ${max}`, { field: 'first' });
  return size;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Builds a page from `size + 1` fetched rows: the extra row only says whether there is a next page. */
export function toConnection<T extends Cursor>(rows: T[], size: number): Connection<T> {
  const page = rows.slice(0, size);
  const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > size, endCursor: edges.at(-1)?.cursor ?? null } };
}
