import { requireRole, utcDay, type EntityManager, type Identity } from '@nexusflow/kit';
import type { EventStore } from './event-store.ts';
import { ANALYST_ROLES } from './metrics.ts';
import { checkedPeriod } from './periods.ts';

const WEEK_MS = 7 * 86_400_000;
/** A year of weekly cohorts, and its retention weeks. */
export const MAX_COHORT_DAYS = 371;

export interface Cohort {
  week: Date;
  size: number;
  activeByWeek: number[];
  retentionByWeek: number[];
}

/** Monday 00:00 UTC of the week `at` falls in. */
function weekStart(at: Date): Date {
  const day = utcDay(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  return new Date(day.getTime() - ((day.getUTCDay() + 6) % 7) * 86_400_000);
}

/**
 * Weekly sign-up cohorts of one tenant: the users whose `user.registered` (published by auth) falls in each week, and
 * how many of them did anything (any event naming them as acting) in each week since, up to the end of the period.
 */
export class CohortQueries {
  constructor(private readonly store: EventStore) {}

  /** @param em the caller's unit of work, which the store on the service's own database reads in */
  async cohorts(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<Cohort[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(weekStart(from), to, MAX_COHORT_DAYS);
    const rows = await this.store.cohortCounts({ em, tenantId, ...period });
    const cohorts = new Map<number, Cohort>();
    for (const row of rows.filter(({ weeksSince }) => weeksSince === null)) {
      const { week } = row;
      const weeks = Math.ceil((period.to.getTime() - week.getTime()) / WEEK_MS);
      cohorts.set(week.getTime(), { week, size: row.users, activeByWeek: Array<number>(weeks).fill(0), retentionByWeek: [] });
    }
    for (const row of rows) {
      if (row.weeksSince === null) continue;
      const cohort = cohorts.get(row.week.getTime());
      if (cohort && row.weeksSince < cohort.activeByWeek.length) cohort.activeByWeek[row.weeksSince] = row.users;
    }
    return [...cohorts.values()]
      .sort((a, b) => a.week.getTime() - b.week.getTime())
      .map((cohort) => ({ ...cohort, retentionByWeek: cohort.activeByWeek.map((active) => active / cohort.size) }));
  }
}
