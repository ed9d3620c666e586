import { nextOccurrence, type Recurrence } from '../platform/recurrence.ts';

/** What to do with an occurrence found due later than its grace period, when no scheduler instance ran at its time. */
export const MisfirePolicy = { Skip: 'SKIP', RunOnce: 'RUN_ONCE' } as const;
export type MisfirePolicy = (typeof MisfirePolicy)[keyof typeof MisfirePolicy];

/** How a due occurrence is handled, and where its schedule moves to. */
export interface OccurrencePlan {
  /** The instant the occurrence was due. */
  dueAt: Date;
  /**
   * The schedule's next occurrence: the first after `now`, so everything missed collapses into this one occurrence.
   * Null for a one-off, which has no next.
   */
  next: Date | null;
  /** Found due later than the grace period allows. */
  missed: boolean;
  /** `skip` when missed under {@link MisfirePolicy.Skip}: record it, but do not do the work. */
  action: 'fire' | 'skip';
}

export interface OccurrenceInput {
  /** How the schedule repeats; null for a one-off. */
  recurrence: Recurrence | null;
  dueAt: Date;
  now: Date;
  misfireGraceMs: number;
  misfirePolicy: MisfirePolicy;
}

/** Plans a due occurrence: fired or skipped by the misfire policy, and the schedule advanced past `now`. */
export function planOccurrence({ recurrence, dueAt, now, misfireGraceMs, misfirePolicy }: OccurrenceInput): OccurrencePlan {
  const missed = now.getTime() - dueAt.getTime() > misfireGraceMs;
  return {
    dueAt,
    next: recurrence ? nextOccurrence(recurrence, now) : null,
    missed,
    action: missed && misfirePolicy === MisfirePolicy.Skip ? 'skip' : 'fire',
  };
}

/**
 * A key naming one occurrence of one schedule, the same in every instance and at every retry, e.g.
 * `schedule:<id>:2026-03-08T07:30:00.000Z`: what the receiving side deduplicates on.
 */
export function occurrenceKey(kind: string, id: string, dueAt: Date): string {
  return `${kind}:${id}:${dueAt.toISOString()}`;
}
