import { utcDay, type EntityManager } from '@nexusflow/kit';

/** The first instant (UTC) of the month `at` falls in. */
export function monthStart(at: Date): Date {
  return utcDay(at.getUTCFullYear(), at.getUTCMonth(), 1);
}

function addMonths(month: Date, count: number): Date {
  return utcDay(month.getUTCFullYear(), month.getUTCMonth() + count, 1);
}

/** `analytics_events_2026_12`: the partition holding December 2026 (UTC). */
export function partitionName(month: Date): string {
  return `analytics_events_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * PostgreSQL's codes for a relation that exists already, for partitions whose ranges would overlap, and for the catalogue's
 * unique key when two sessions create the same table at once.
 */
const ALREADY_EXISTS = new Set(['42P07', '42P17', '23505']);

/**
 * The monthly partitions of `analytics_events`. There is no default partition (a row there would stop its month's
 * partition from being created later), so every month needs its partition before its first event: the periodic pass
 * makes the coming months', and an event of any other month (a late or replayed one) makes its own on demand.
 */
export class MonthlyPartitions {
  /** Months known to have their partition, so that ingestion asks the database only once a month per process. */
  private readonly ready = new Set<number>();

  /** Makes the partition of the month `at` falls in, unless it exists. */
  async ensureFor(em: EntityManager, at: Date): Promise<void> {
    const month = monthStart(at);
    if (this.ready.has(month.getTime())) return;
    try {
      // Identifiers and bounds come from the date alone, never from input, so they are safe to inline.
      await em.execute(
        `create table if not exists "${partitionName(month)}" partition of "analytics_events"
         for values from ('${month.toISOString()}') to ('${addMonths(month, 1).toISOString()}')`,
        [],
        'run',
      );
    } catch (error) {
      // Another process (or consumer) made it between the check and the create.
      if (!ALREADY_EXISTS.has((error as { code?: string }).code ?? '')) throw error;
    }
    this.ready.add(month.getTime());
  }

  /** Makes the month's partition again after the database refused a row of it: it was dropped since it was made. */
  async remake(em: EntityManager, at: Date): Promise<void> {
    this.ready.delete(monthStart(at).getTime());
    await this.ensureFor(em, at);
  }

  /** Makes the partitions of the current month and the `monthsAhead` after it; the periodic pass. */
  async ensureAhead(em: EntityManager, now: Date, monthsAhead: number): Promise<string[]> {
    const months = Array.from({ length: monthsAhead + 1 }, (_, index) => addMonths(monthStart(now), index));
    for (const month of months) await this.ensureFor(em, month);
    return months.map(partitionName);
  }
}
