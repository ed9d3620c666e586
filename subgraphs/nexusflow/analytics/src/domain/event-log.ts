import DataLoader from 'dataloader';
import { orderByKeys, requireRole, tenantScopeOfUnit, type EntityManager, type Identity } from '@nexusflow/kit';
import type { EventStore, StoredEvent } from './event-store.ts';
import { ANALYST_ROLES } from './metrics.ts';
import { checkedPeriod } from './periods.ts';

/** The stored events themselves, for an admin looking into what the aggregates are made of. */
export class EventLog {
  constructor(private readonly store: EventStore) {}

  /** @param em the request's unit of work, which the store on the service's own database reads in */
  async list(em: EntityManager, identity: Identity, from: Date, to: Date, type: string | null, first: number): Promise<StoredEvent[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    const limit = Math.max(first, 0);
    if (limit === 0) return [];
    return this.store.list({ em, tenantId, ...period }, type, limit);
  }

  /** Events by id for one request, one read per batch, null for an id the request's tenant scope does not see. */
  loaderById(em: EntityManager): DataLoader<string, StoredEvent | null> {
    const scope = tenantScopeOfUnit(em);
    return new DataLoader(async (ids) => orderByKeys(ids, await this.store.byIds(scope, ids), (event) => event.id));
  }
}
