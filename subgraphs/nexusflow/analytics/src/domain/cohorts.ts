import { requireRole, type EntityManager, type Identity } from '@nexusflow/kit';
import { EventType } from './events.ts';
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
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  return new Date(day.getTime() - ((day.getUTCDay() + 6) % 7) * 86_400_000);
}

/**
 * Weekly sign-up cohorts of one tenant: the users whose `user.registered` (published by auth) falls in each week, and
 * how many of them did anything (any event naming them as acting) in each week since, up to the end of the period.
 */
export class CohortQueries {
  async cohorts(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<Cohort[]> {
    const { tenantId } = requireRole(identity, ANALYST_ROLES);
    const period = checkedPeriod(weekStart(from), to, MAX_COHORT_DAYS);
    const rows = await em.execute<{ week: Date; weeks_since: number | null; users: string }[]>(
      `with "signups" as (
         select "user_id", date_trunc('week', min("occurred_at"), 'UTC') as "week" from "analytics_events"
         where "tenant_id" = ? and "type" = ? and "occurred_at" >= ? and "occurred_at" < ? and "user_id" is not null
         group by "user_id"),
       "activity" as (
         select distinct s."week", s."user_id", floor(extract(epoch from e."occurred_at" - s."week") / 604800)::int as "weeks_since"
         from "signups" s join "analytics_events" e
           on e."tenant_id" = ? and e."user_id" = s."user_id" and e."occurred_at" >= s."week" and e."occurred_at" < ?)
       select "week", null as "weeks_since", count(*) as "users" from "signups" group by "week"
       union all
       select "week", "weeks_since", count(*) as "users" from "activity" group by "week", "weeks_since"`,
      [tenantId, EventType.UserRegistered, period.from, period.to, tenantId, period.to],
    );
    const cohorts = new Map<number, Cohort>();
    for (const row of rows.filter(({ weeks_since }) => weeks_since === null)) {
      const week = new Date(row.week);
      const weeks = Math.ceil((period.to.getTime() - week.getTime()) / WEEK_MS);
      cohorts.set(week.getTime(), { week, size: Number(row.users), activeByWeek: Array<number>(weeks).fill(0), retentionByWeek: [] });
    }
    for (const row of rows) {
      if (row.weeks_since === null) continue;
      const cohort = cohorts.get(new Date(row.week).getTime());
      if (cohort && row.weeks_since < cohort.activeByWeek.length) cohort.activeByWeek[row.weeks_since] = Number(row.users);
    }
    return [...cohorts.values()]
      .sort((a, b) => a.week.getTime() - b.week.getTime())
      .map((cohort) => ({ ...cohort, retentionByWeek: cohort.activeByWeek.map((active) => active / cohort.size) }));
  }
}
