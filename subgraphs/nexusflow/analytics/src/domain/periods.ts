import { badUserInput } from '@nexusflow/kit';

export type Bucket = 'HOUR' | 'DAY' | 'WEEK' | 'MONTH';

const DAY_MS = 86_400_000;
/** The longest period one query reads: a year and a day, so that "the last year" fits whatever the time zone. */
export const MAX_PERIOD_DAYS = 366;
/** The most buckets a dashboard returns: enough for a month of hours, few enough to draw. */
export const MAX_BUCKETS = 1000;
const APPROXIMATE_BUCKET_MS: Record<Bucket, number> = { HOUR: 3_600_000, DAY: DAY_MS, WEEK: 7 * DAY_MS, MONTH: 28 * DAY_MS };

export interface Period {
  from: Date;
  to: Date;
}

/** Checks a period given by a caller: `from` before `to`, and not longer than `maxDays`. */
export function checkedPeriod(from: Date, to: Date, maxDays = MAX_PERIOD_DAYS): Period {
  if (!(from.getTime() < to.getTime())) throw badUserInput('"from" must be before "to"', { field: 'to' });
  if (to.getTime() - from.getTime() > maxDays * DAY_MS)
    throw badUserInput(`The period must be at most ${maxDays} days long`, { field: 'to', maxDays });
  return { from, to };
}

/** Checks that a dashboard's period holds at most {@link MAX_BUCKETS} buckets (months counted as their shortest). */
export function checkedBuckets(period: Period, bucket: Bucket): void {
  const buckets = Math.ceil((period.to.getTime() - period.from.getTime()) / APPROXIMATE_BUCKET_MS[bucket]);
  if (buckets > MAX_BUCKETS)
    throw badUserInput(`At most ${MAX_BUCKETS} buckets: choose a longer bucket or a shorter period`, {
      field: 'bucket',
      maxBuckets: MAX_BUCKETS,
    });
}

/** PostgreSQL's `date_trunc` field of a bucket; weeks start on Monday, as ISO weeks do. */
export const truncField = (bucket: Bucket): string => bucket.toLowerCase();
