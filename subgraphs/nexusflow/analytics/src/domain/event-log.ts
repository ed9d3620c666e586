import { requireRole, type EntityManager, type Identity } from '@nexusflow/kit';
import { AnalyticsEvent } from '../entities/analytics-event.entity.ts';
import { ANALYST_ROLES } from './metrics.ts';
import { checkedPeriod } from './periods.ts';

const MAX_PAGE = 100;

/** The stored events themselves, for an admin looking into what the aggregates are made of. */
export class EventLog {
  /** @param em the request's unit of work: the tenant filter keeps other tenants' events out */
  async list(em: EntityManager, identity: Identity, from: Date, to: Date, type: string | null, first: number): Promise<AnalyticsEvent[]> {
    requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    const limit = Math.min(Math.max(first, 0), MAX_PAGE);
    if (limit === 0) return [];
    return em.find(
      AnalyticsEvent,
      { occurredAt: { $gte: period.from, $lt: period.to }, ...(type ? { type } : {}) },
      { orderBy: { occurredAt: 'desc', id: 'desc' }, limit },
    );
  }
}
