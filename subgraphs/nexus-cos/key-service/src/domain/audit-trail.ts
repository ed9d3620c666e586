import { badUserInput, requireRole, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import { KeyAuditEvent } from '../entities/key-audit-event.entity.ts';

const MAX_PAGE = 100;

export interface KeyAuditPage {
  edges: { cursor: string; node: KeyAuditEvent }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const encodeCursor = (event: KeyAuditEvent) => Buffer.from(String(event.position), 'utf8').toString('base64url');

function decodeCursor(cursor: string): string {
  const position = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9][0-9]{0,17}$/.test(position)) throw badUserInput('"after" is not a cursor this API returned', { field: 'after' });
  return position;
}

/** The key operations of the caller's tenant, newest first, for its OWNERs and ADMINs. */
export class KeyAuditTrail {
  async page(em: EntityManager, identity: Identity, first: number, after: string | null | undefined): Promise<KeyAuditPage> {
    requireRole(identity, [Role.Owner, Role.Admin]);
    if (first < 0 || first > MAX_PAGE) throw badUserInput(`"first" must be between 0 and ${MAX_PAGE}`, { field: 'first' });
    const before = after ? decodeCursor(after) : undefined;
    const rows =
      first === 0
        ? []
        : await em.find(KeyAuditEvent, before ? { position: { $lt: before } } : {}, { orderBy: { position: 'desc' }, limit: first + 1 });
    const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(node), node }));
    return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
  }
}
