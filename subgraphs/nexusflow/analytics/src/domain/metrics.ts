import { requireRole, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import type { BucketValue, DashboardMetric, EventStore, ExecutionDurations, ExecutionsOfDay, UsageTotals } from './event-store.ts';
import { checkedBuckets, checkedPeriod, type Bucket, type Period } from './periods.ts';

export type { BucketValue, DashboardMetric } from './event-store.ts';

export const ANALYST_ROLES = [Role.Owner, Role.Admin] as const;

export interface UsageMetrics extends Period, UsageTotals {
  activeUsers: { daily: BucketValue[]; weekly: BucketValue[]; monthly: BucketValue[] };
  executionsByDay: ExecutionsOfDay[];
  executionDurations: ExecutionDurations;
}

/** Usage and dashboards of one tenant, as aggregates over its events in the store. Buckets are UTC. */
export class UsageQueries {
  constructor(private readonly store: EventStore) {}

  /** @param em the caller's unit of work, which the store on the service's own database reads in */
  async usage(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<UsageMetrics> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    const query = { em, tenantId, ...period };
    const [daily, weekly, monthly, executionsByDay, executionDurations, totals] = await Promise.all([
      this.store.activeUsers(query, 'DAY'),
      this.store.activeUsers(query, 'WEEK'),
      this.store.activeUsers(query, 'MONTH'),
      this.store.executionsByDay(query),
      this.store.executionDurations(query),
      this.store.totals(query),
    ]);
    return { ...period, activeUsers: { daily, weekly, monthly }, executionsByDay, executionDurations, ...totals };
  }

  /** Every bucket of the period, so that a chart shows the empty ones as zero rather than skipping them. */
  async dashboard(
    em: EntityManager,
    identity: Identity,
    metric: DashboardMetric,
    bucket: Bucket,
    from: Date,
    to: Date,
  ): Promise<BucketValue[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(from, to);
    checkedBuckets(period, bucket);
    return this.store.dashboard({ em, tenantId, ...period }, metric, bucket);
  }
}
